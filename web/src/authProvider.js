// react-admin's authProvider over adminql's login/refreshToken/logout and `me`. Access
// control follows the signed-in user's permission codes: `user:read` lists users,
// `user:write` creates, edits and deletes them, and so on.
import * as s from './session.js';

const PREFIX = { User: 'user', Role: 'role', Permission: 'permission', AuditLog: 'audit', status: 'system' };
const READS = new Set(['list', 'show', 'read', 'export']);
const ENDED = 'Your session has expired or was revoked. Please sign in again.';

let me = null;
s.onSessionChange(() => {
  me = null;
});

async function loadMe() {
  if (!me) {
    me = s
      .gql('query Me { me { id email name permissions { code } } }')
      .then((data) => {
        if (!data.me) throw new Error(ENDED);
        return { ...data.me, codes: data.me.permissions.map((p) => p.code) };
      })
      .catch((error) => {
        me = null;
        throw error;
      });
  }
  return me;
}

export function can(codes, resource, action) {
  const prefix = PREFIX[resource];
  if (!prefix) return true;
  return codes.includes(`${prefix}:${READS.has(action) ? 'read' : 'write'}`);
}

export const authProvider = {
  async login({ username, password }) {
    await s.login(username, password);
  },
  async logout() {
    await s.logout();
  },
  async checkAuth() {
    if (!s.token()) throw new Error('not signed in');
  },
  async checkError(error) {
    if (error?.status === 401 || error?.code === 'UNAUTHENTICATED') {
      s.clear(ENDED);
      // The message goes on the sign-in page (signedOutReason), not in a notification.
      throw { message: false, redirectTo: '/login' };
    }
  },
  async getIdentity() {
    const user = await loadMe();
    return { id: user.id, fullName: user.name || user.email, email: user.email };
  },
  async getPermissions() {
    if (!s.token()) return [];
    return (await loadMe()).codes;
  },
  async canAccess({ resource, action }) {
    if (!s.token()) return false;
    try {
      return can((await loadMe()).codes, resource, action);
    } catch {
      return false;
    }
  },
};
