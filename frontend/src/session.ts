// Who is logged in: read once from /api/v1/auth/me after login or on a reload.
import { api, tokens } from "./api";
import type { Me, TokenPair } from "./types";

let me: Me | null = null;

export const session = {
  get user(): Me | null {
    return me;
  },
  /** The current user, or null when there is no (valid) session. */
  async load(): Promise<Me | null> {
    if (!tokens.access) return (me = null);
    try {
      me = await api.get<Me>("/api/v1/auth/me");
    } catch {
      me = null;
    }
    return me;
  },
  async login(username: string, password: string): Promise<Me | null> {
    const pair = await api.post<TokenPair>("/api/v1/auth/login", {
      username,
      password,
    });
    tokens.set(pair.access_token, pair.refresh_token);
    return session.load();
  },
  async logout(): Promise<void> {
    try {
      await api.post("/api/v1/auth/logout", { refresh_token: tokens.refresh });
    } catch {
      // the session ends here either way
    }
    me = null;
    tokens.clear();
  },
  can(...roles: Me["role"][]): boolean {
    return !!me && roles.includes(me.role);
  },
};
