// History-API routing: links are plain <a href>; the app re-renders on navigation.

export interface Location {
  path: string;
  params: URLSearchParams;
}

const listeners = new Set<(location: Location) => void>();

export function current(): Location {
  return { path: window.location.pathname, params: new URLSearchParams(window.location.search) };
}

export function navigate(url: string, { replace = false } = {}): void {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  listeners.forEach((listener) => listener(current()));
}

/**
 * ``next`` if it is a path inside this app (``/jobs?page=2``), else null. Only a single leading
 * ``/`` is accepted: not ``//host`` or ``/\host`` (browsers read both as another site), nor a
 * scheme, a backslash (decoded ``%5C`` too), or control characters and spaces, which URL parsing
 * drops or rewrites. Whatever passes resolves to this origin, so ``navigate`` cannot throw on it.
 */
export function inAppPath(next: string | null | undefined): string | null {
  if (!next || !next.startsWith("/") || next.startsWith("//")) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(next);
  } catch {
    return null;
  }
  const unsafe = /[\\\u0000-\u0020\u007f]/;
  if (unsafe.test(next) || unsafe.test(decoded) || decoded.startsWith("//")) return null;
  const resolved = new URL(next, window.location.origin);
  if (resolved.origin !== window.location.origin || resolved.pathname === "/login") return null;
  return resolved.pathname + resolved.search + resolved.hash;
}

export function onNavigate(listener: (location: Location) => void): void {
  listeners.add(listener);
}

/** Same-origin link clicks become client-side navigation (new tabs, downloads and modifiers excepted). */
export function interceptLinks(root: Document | ShadowRoot = document): void {
  root.addEventListener("click", (event) => {
    const mouse = event as MouseEvent;
    if (mouse.defaultPrevented || mouse.button !== 0 || mouse.metaKey || mouse.ctrlKey || mouse.shiftKey) return;
    const anchor = mouse.composedPath().find((node) => node instanceof HTMLAnchorElement) as
      | HTMLAnchorElement
      | undefined;
    if (!anchor || anchor.target || anchor.hasAttribute("download") || anchor.origin !== window.location.origin) return;
    if (anchor.pathname.startsWith("/api/") || anchor.pathname.startsWith("/plugins/")) return;
    event.preventDefault();
    navigate(anchor.pathname + anchor.search);
  });
  window.addEventListener("popstate", () => listeners.forEach((listener) => listener(current())));
}
