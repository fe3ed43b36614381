// Runs react-admin's real GraphQL data provider (ra-data-graphql-simple) against a running
// adminql: ADMINQL_URL is its base URL, ADMINQL_TOKEN an admin's access token.
// Exits non-zero with a message on the first check that fails.
import assert from 'node:assert/strict';
import apolloClient from '@apollo/client';
import raDataGraphqlSimple from 'ra-data-graphql-simple';

// Both packages are CommonJS: take their exports from the default import.
const { HttpLink } = apolloClient;
const buildGraphQLProvider = raDataGraphqlSimple.default ?? raDataGraphqlSimple;

const url = process.env.ADMINQL_URL;
const token = process.env.ADMINQL_TOKEN;
assert.ok(url && token, 'ADMINQL_URL and ADMINQL_TOKEN must be set');

// Read-your-writes for a non-browser client: keep the X-Consistency-Token of the last
// mutation and send it with every request (browsers get the same from the adminql_ct cookie).
let consistencyToken = null;
async function consistentFetch(input, init = {}) {
  const headers = new Headers(init.headers);
  if (consistencyToken) headers.set('X-Consistency-Token', consistencyToken);
  const response = await fetch(input, { ...init, headers });
  consistencyToken = response.headers.get('X-Consistency-Token') ?? consistencyToken;
  if (response.status >= 400) {
    console.error(`HTTP ${response.status} for ${init.body}:\n${await response.clone().text()}`);
  }
  return response;
}

const dataProvider = await buildGraphQLProvider({
  clientOptions: {
    link: new HttpLink({ uri: `${url}/graphql`, headers: { Authorization: `Bearer ${token}` }, fetch: consistentFetch }),
  },
});

async function check(name, run) {
  try {
    await run();
    console.log(`ok - ${name}`);
  } catch (error) {
    console.error(`not ok - ${name}`);
    console.error(error);
    process.exit(1);
  }
}

const suffix = Date.now();
let roleId;
let userIds = [];

await check('Role: create', async () => {
  const { data } = await dataProvider.create('Role', {
    data: { name: `ra-role-${suffix}`, description: 'made by react-admin', permissionsIds: ['1'] },
  });
  assert.equal(data.name, `ra-role-${suffix}`);
  roleId = data.id;
});

await check('User: create (with a role)', async () => {
  for (const name of ['carol', 'dave', 'erin', 'frank']) {
    const { data } = await dataProvider.create('User', {
      data: { email: `${name}-${suffix}@example.com`, name, password: 'react-admin-pw-1', active: true, rolesIds: [roleId] },
    });
    assert.equal(data.email, `${name}-${suffix}@example.com`);
    userIds.push(data.id);
  }
});

await check('User: getList with sort, filter q and page 2', async () => {
  const { data, total } = await dataProvider.getList('User', {
    pagination: { page: 2, perPage: 2 },
    sort: { field: 'email', order: 'DESC' },
    filter: { q: `-${suffix}@` },
  });
  assert.equal(total, 4);
  assert.deepEqual(data.map((u) => u.name), ['dave', 'carol']);
});

await check('User: getOne', async () => {
  const { data } = await dataProvider.getOne('User', { id: userIds[0] });
  assert.equal(data.name, 'carol');
  assert.deepEqual(data.rolesIds, [roleId]);
});

await check('User: getMany', async () => {
  const { data } = await dataProvider.getMany('User', { ids: userIds });
  assert.equal(data.length, 4);
});

await check('User: getManyReference (users of a role)', async () => {
  const { data, total } = await dataProvider.getManyReference('User', {
    target: 'role_id', id: roleId, pagination: { page: 1, perPage: 10 }, sort: { field: 'name', order: 'ASC' }, filter: {},
  });
  assert.equal(total, 4);
  assert.equal(data[0].name, 'carol');
});

await check('User: update', async () => {
  const previous = (await dataProvider.getOne('User', { id: userIds[1] })).data;
  const { data } = await dataProvider.update('User', {
    id: userIds[1], data: { ...previous, name: 'David', active: false }, previousData: previous,
  });
  assert.equal(data.name, 'David');
  assert.equal(data.active, false);
});

await check('User: delete', async () => {
  const previous = (await dataProvider.getOne('User', { id: userIds[3] })).data;
  const { data } = await dataProvider.delete('User', { id: userIds[3], previousData: previous });
  assert.equal(data.id, userIds[3]);
  const { total } = await dataProvider.getList('User', {
    pagination: { page: 1, perPage: 10 }, sort: { field: 'id', order: 'ASC' }, filter: { q: `-${suffix}@` },
  });
  assert.equal(total, 3);
});

await check('Role: getList, getOne, getMany, update', async () => {
  const list = await dataProvider.getList('Role', {
    pagination: { page: 1, perPage: 10 }, sort: { field: 'name', order: 'ASC' }, filter: { q: 'ra-role' },
  });
  assert.equal(list.total, 1);
  const one = await dataProvider.getOne('Role', { id: roleId });
  assert.deepEqual(one.data.permissionsIds, ['1']);
  const many = await dataProvider.getMany('Role', { ids: [roleId] });
  assert.equal(many.data.length, 1);
  const { data } = await dataProvider.update('Role', {
    id: roleId, data: { ...one.data, description: 'changed', permissionsIds: ['1', '3'] }, previousData: one.data,
  });
  assert.equal(data.description, 'changed');
});

await check('Role: delete', async () => {
  const previous = (await dataProvider.getOne('Role', { id: roleId })).data;
  const { data } = await dataProvider.delete('Role', { id: roleId, previousData: previous });
  assert.equal(data.id, roleId);
});

await check('Permission and AuditLog: getList', async () => {
  const permissions = await dataProvider.getList('Permission', {
    pagination: { page: 1, perPage: 50 }, sort: { field: 'code', order: 'ASC' }, filter: {},
  });
  assert.equal(permissions.total, 7);
  const audit = await dataProvider.getList('AuditLog', {
    pagination: { page: 1, perPage: 5 }, sort: { field: 'id', order: 'DESC' }, filter: { action: 'role.delete' },
  });
  assert.equal(audit.total, 1);
});

console.log('react-admin data provider: all checks passed');
