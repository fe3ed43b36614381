// ra-data-graphql-simple over /graphql, with the schema taken from the build (no
// introspection request), the access token on every request and errors turned into
// HttpErrors that name the request id and the refused field. The browser sends the
// adminql_ct cookie by itself, so a list read right after a save sees the save.
import { HttpLink } from '@apollo/client';
import buildGraphQLProvider from 'ra-data-graphql-simple';
import schema from 'virtual:adminql-introspection';
import { fromApollo } from './errors.js';
import { setReadOnly } from './readOnly.js';
import { token } from './session.js';

async function authFetch(input, init = {}) {
  const headers = new Headers(init.headers);
  if (token()) headers.set('Authorization', `Bearer ${token()}`);
  const response = await fetch(input, { ...init, headers, credentials: 'same-origin' });
  if (response.ok) return response;
  // Apollo turns a non-2xx answer into a bare "status code N" and drops its GraphQL errors
  // (code, field, request id): hand them over as a 200 with errors; the error's status is
  // then taken from its code (errors.js).
  const text = await response.text();
  try {
    if (Array.isArray(JSON.parse(text).errors)) {
      return new Response(text, { status: 200, headers: response.headers });
    }
  } catch {
    // Not GraphQL: Apollo reports the status.
  }
  return new Response(text, { status: response.status, headers: response.headers });
}

// Only the fields a form edits go to a mutation: the read-only ones (ids, dates, nested
// objects) are not arguments, and an empty password means "leave it".
const WRITABLE = {
  User: ['email', 'name', 'password', 'active', 'rolesIds'],
  Role: ['name', 'description', 'permissionsIds'],
};

function writable(resource, data) {
  const keep = WRITABLE[resource];
  if (!keep) return data;
  const out = {};
  for (const key of keep) {
    if (data[key] === undefined || (key === 'password' && !data[key])) continue;
    out[key] = data[key];
  }
  return out;
}

export async function buildDataProvider() {
  const provider = await buildGraphQLProvider({
    clientOptions: { link: new HttpLink({ uri: '/graphql', fetch: authFetch }) },
    introspection: { schema },
  });
  const wrap = (method) => async (resource, params) => {
    if ((method === 'create' || method === 'update') && params?.data) {
      params = { ...params, data: writable(resource, params.data) };
      if (method === 'update') params.data.id = params.id;
    }
    try {
      const result = await provider[method](resource, params);
      return result;
    } catch (error) {
      const e = fromApollo(error);
      if (e.code === 'READ_ONLY_MODE') setReadOnly(true);
      throw e;
    }
  };
  return Object.fromEntries(
    ['getList', 'getOne', 'getMany', 'getManyReference', 'create', 'update', 'updateMany', 'delete', 'deleteMany'].map((m) => [m, wrap(m)]),
  );
}
