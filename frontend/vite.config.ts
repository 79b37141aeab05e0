import { defineConfig } from "vite";

// The build goes straight into the Python package, which serves it (kpi_core/web/spa.py):
// no Node at run time. Hashed file names under assets/ let the server cache them for a year.
export default defineConfig({
  base: "/",
  build: {
    outDir: "../kpi_core/web/frontend_dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    // `npm run dev` proxies the API to a running `kpi serve` / `kpi demo`.
    proxy: { "/api": "http://127.0.0.1:8000", "/plugins": "http://127.0.0.1:8000" },
  },
});
