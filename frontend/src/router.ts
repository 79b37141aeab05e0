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
