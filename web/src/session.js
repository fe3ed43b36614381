// The signed-in session: access and refresh tokens in sessionStorage (gone when the tab
// closes), a timer that trades the refresh token for a new session before the access token
// expires, and `gql`, the one place that sends raw GraphQL requests.
import { graphqlError } from './errors.js';

const KEY = 'adminql.session';
const REASON = 'adminql.signedOutReason';
const SESSION_FIELDS = 'token refreshToken expiresAt user { id email name }';
let timer = null;
let listeners = new Set();

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

export const token = () => session()?.token ?? null;

function store(payload) {
  sessionStorage.setItem(KEY, JSON.stringify(payload));
  sessionStorage.removeItem(REASON);
  schedule();
  listeners.forEach((l) => l());
}

export function onSessionChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Ends the session locally; `reason` is shown on the sign-in page. */
export function clear(reason) {
  clearTimeout(timer);
  sessionStorage.removeItem(KEY);
  if (reason) sessionStorage.setItem(REASON, reason);
  listeners.forEach((l) => l());
}

/** Why the last session ended; kept until the next sign-in (the page may mount twice). */
export const signedOutReason = () => sessionStorage.getItem(REASON);

/** Sends one GraphQL request, with this tab's access token unless `auth` is false; rejects
 * with an HttpError carrying the server's message. */
export async function gql(query, variables = {}, { auth = true } = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const bearer = auth ? token() : null;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers,
      credentials: 'same-origin',
      body: JSON.stringify({ query, variables }),
    });
  } catch (cause) {
    throw graphqlError([{ message: `The server cannot be reached (${cause.message}).` }], 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not GraphQL (a proxy's error page): reported below with the status.
  }
  if (body?.errors?.length) throw graphqlError(body.errors, response.status);
  if (!response.ok || !body?.data) {
    throw graphqlError([{ message: `The server answered HTTP ${response.status}.` }], response.status);
  }
  return body.data;
}

export async function login(email, password) {
  const data = await gql(
    `mutation SignIn($email: String!, $password: String!) { login(email: $email, password: $password) { ${SESSION_FIELDS} } }`,
    { email, password },
    { auth: false },
  );
  store(data.login);
  return data.login;
}

export async function refresh() {
  const current = session();
  if (!current) throw new Error('not signed in');
  const data = await gql(
    `mutation Refresh($token: String!) { refreshToken(token: $token) { ${SESSION_FIELDS} } }`,
    { token: current.refreshToken },
    { auth: false },
  );
  store(data.refreshToken);
  return data.refreshToken;
}

export async function logout() {
  const current = session();
  clear();
  if (current) {
    // The refresh token is credential enough for `logout`; no access token goes along, so a
    // session whose access token expired (which the server would answer 401) still ends.
    // Best effort: the tokens are gone from this tab either way.
    await gql('mutation SignOut($t: String!) { logout(refreshToken: $t) }', { t: current.refreshToken }, { auth: false }).catch(() => {});
  }
}

export async function changePassword(currentPassword, newPassword) {
  const data = await gql(
    `mutation ChangePassword($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { ${SESSION_FIELDS} } }`,
    { c: currentPassword, n: newPassword },
  );
  store(data.changePassword);
}

/** Refreshes at 80% of the access token's remaining life; a failed refresh ends the session. */
export function schedule() {
  clearTimeout(timer);
  const current = session();
  if (!current) return;
  const left = new Date(current.expiresAt).getTime() - Date.now();
  timer = setTimeout(() => {
    refresh().catch((error) => {
      clear(`Your session has expired or was revoked (${error.message}). Please sign in again.`);
      window.location.hash = '#/login';
    });
  }, Math.max(1000, left * 0.8));
}
