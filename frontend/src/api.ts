// The one way the app talks to the server: JSON over fetch, bearer tokens that refresh
// themselves once on a 401, and the API's one error shape turned into ApiError.

export interface RowError {
  row: number;
  column: string | null;
  message: string;
}

// The X-Pagination header, as the API document describes it (every field optional there).
export type { Pagination } from "./types";
import type { Pagination, TokenPair } from "./types";

/** An answer that is not 2xx: the message, and field-level messages keyed by field path. */
export class ApiError extends Error {
  readonly status: number;
  readonly fields: Record<string, string>;
  readonly rows: RowError[];
  readonly errorCount: number;

  constructor(status: number, message: string, errors: unknown) {
    super(message);
    this.status = status;
    this.fields = {};
    this.rows = [];
    this.errorCount = 0;
    if (errors && typeof errors === "object") {
      const { rows, error_count, ...locations } = errors as Record<string, unknown>;
      if (Array.isArray(rows)) this.rows = rows as RowError[];
      this.errorCount = typeof error_count === "number" ? error_count : this.rows.length;
      for (const value of Object.values(locations)) flatten(value, "", this.fields);
    }
  }
}

// {"json": {"answers.x": ["msg"], "layout": {"0": {"size": ["msg"]}}}} -> {"answers.x": "msg", "layout.0.size": "msg"}
function flatten(value: unknown, prefix: string, into: Record<string, string>): void {
  if (Array.isArray(value)) {
    if (value.every((item) => typeof item === "string")) into[prefix] = value.join(" ");
    else value.forEach((item, index) => flatten(item, prefix ? `${prefix}.${index}` : String(index), into));
  } else if (value && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) flatten(inner, prefix ? `${prefix}.${key}` : key, into);
  } else if (typeof value === "string") {
    into[prefix] = value;
  }
}

export type Query = Record<string, string | number | boolean | null | undefined | (string | number)[]>;

export function queryString(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((item) => params.append(key, String(item)));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

const ACCESS = "kpi.access";
const REFRESH = "kpi.refresh";
const listeners = new Set<() => void>();

/** Tokens live in sessionStorage: they survive a reload, not the closing of the tab. */
export const tokens = {
  get access(): string | null {
    return sessionStorage.getItem(ACCESS);
  },
  get refresh(): string | null {
    return sessionStorage.getItem(REFRESH);
  },
  set(access: string, refresh: string): void {
    sessionStorage.setItem(ACCESS, access);
    sessionStorage.setItem(REFRESH, refresh);
  },
  clear(): void {
    sessionStorage.removeItem(ACCESS);
    sessionStorage.removeItem(REFRESH);
    listeners.forEach((listener) => listener());
  },
  /** Called when the session ends (logout, or a refresh token the server no longer accepts). */
  onCleared(listener: () => void): void {
    listeners.add(listener);
  },
};

export interface Answer<T> {
  data: T;
  headers: Headers;
}

interface Options {
  query?: Query;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
}

let refreshing: Promise<boolean> | null = null;

async function refreshTokens(): Promise<boolean> {
  const refresh = tokens.refresh;
  if (!refresh) return false;
  refreshing ??= fetch("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: refresh }),
  })
    .then(async (response) => {
      if (!response.ok) return false;
      const pair = (await response.json()) as TokenPair;
      tokens.set(pair.access_token, pair.refresh_token);
      return true;
    })
    .catch(() => false)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

async function send(method: string, path: string, options: Options): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (tokens.access) headers.Authorization = `Bearer ${tokens.access}`;
  let body = options.body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  }
  return fetch(`${path}${queryString(options.query)}`, { method, headers, body });
}

export async function errorOf(response: Response): Promise<ApiError> {
  let payload: Record<string, unknown> = {};
  try {
    payload = await response.json();
  } catch {
    // not JSON (a proxy's error page): the status line is all there is
  }
  const message = typeof payload.message === "string" ? payload.message : `${response.status} ${response.statusText}`;
  return new ApiError(response.status, message, payload.errors);
}

/** One API call; throws ApiError for any non-2xx answer, and for a network failure. */
export async function request<T>(method: string, path: string, options: Options = {}): Promise<Answer<T>> {
  let response: Response;
  try {
    response = await send(method, path, options);
    if (response.status === 401 && tokens.refresh && !path.startsWith("/api/v1/auth/")) {
      if (await refreshTokens()) response = await send(method, path, options);
      else tokens.clear();
    }
  } catch (error) {
    throw new ApiError(0, `The server could not be reached (${(error as Error).message}).`, null);
  }
  if (!response.ok) throw await errorOf(response);
  const type = response.headers.get("Content-Type") ?? "";
  const data = response.status === 204 || !type.includes("json") ? (null as T) : ((await response.json()) as T);
  return { data, headers: response.headers };
}

export const api = {
  async get<T>(path: string, query?: Query): Promise<T> {
    return (await request<T>("GET", path, { query })).data;
  },
  async post<T>(path: string, json?: unknown, query?: Query): Promise<T> {
    return (await request<T>("POST", path, { json: json ?? {}, query })).data;
  },
  async page<T>(path: string, query?: Query): Promise<{ items: T[]; pagination: Pagination | null }> {
    const answer = await request<T[]>("GET", path, { query });
    const header = answer.headers.get("X-Pagination");
    return { items: answer.data, pagination: header ? (JSON.parse(header) as Pagination) : null };
  },
  /**
   * Every page of a listing, up to ``pages`` pages of 100 (the default suits small lists such as
   * teams and technicians; a download of a whole list asks for every page).
   */
  async all<T>(path: string, query: Query = {}, pages = 50): Promise<T[]> {
    const items: T[] = [];
    for (let page = 1; page <= pages; page++) {
      const answer = await api.page<T>(path, { ...query, page, page_size: 100 });
      items.push(...answer.items);
      if (!answer.pagination || page >= (answer.pagination.total_pages ?? page)) break;
    }
    return items;
  },
};

/** Fetch a file with the bearer token and hand it to the browser as a download. */
export async function download(path: string, fallbackName: string): Promise<void> {
  let response = await send("GET", path, {});
  if (response.status === 401 && (await refreshTokens())) response = await send("GET", path, {});
  if (!response.ok) throw await errorOf(response);
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const name = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = decodeURIComponent(name);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Upload a file with progress (fetch cannot report upload progress; XMLHttpRequest can). */
export function upload<T>(
  path: string,
  file: File,
  query: Query,
  onProgress: (fraction: number) => void,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${path}${queryString(query)}`);
    xhr.setRequestHeader("Accept", "application/json");
    if (tokens.access) xhr.setRequestHeader("Authorization", `Bearer ${tokens.access}`);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    xhr.onerror = () => reject(new ApiError(0, "The server could not be reached.", null));
    xhr.onload = () => {
      let payload: Record<string, unknown> = {};
      try {
        payload = JSON.parse(xhr.responseText);
      } catch {
        // keep the empty payload
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(payload as T);
      else
        reject(
          new ApiError(xhr.status, (payload.message as string) ?? `${xhr.status} ${xhr.statusText}`, payload.errors),
        );
    };
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}
