// Drives the admin UI at /admin in Debian's headless Chromium, as a person would, against a
// running adminql (tests/it/admin_ui.rs starts the server and runs this).
//
// Env: ADMINQL_URL (base URL), ADMIN_EMAIL/ADMIN_PASSWORD (the only admin), READER_EMAIL/
// READER_PASSWORD (an account with user:read but neither user:write nor audit:read, signed in
// once before), MEMBERS (JSON: more accounts, `{ email, name, active }`, names sorting the
// other way round from emails, one inactive), DELETE_EMAIL (the member to delete),
// SCREENSHOTS (a directory for one PNG per step), PHASE (`main`, or `read-only` with
// SESSION, a login payload obtained before the primary was stopped). Optional:
// SHORT_ACCESS_TOKENS (access tokens live seconds: one is refreshed, one runs out),
// EXPECT_REPLICAS (how many replicas the status page lists, each lagging behind).
// Prints `ok - STEP` per step and `all checks passed` at the end; exits non-zero on the first
// failure, on any request to a non-loopback address, on any uncaught page error and on any
// Content-Security-Policy violation.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} must be set`);
  return value;
};
const base = env('ADMINQL_URL');
const shots = env('SCREENSHOTS');
const phase = process.env.PHASE ?? 'main';
mkdirSync(shots, { recursive: true });

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const offsite = [];
const pageErrors = [];
const consoleErrors = [];

const userDataDir = mkdtempSync(join(tmpdir(), 'adminql-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1280, height: 800 },
});
context.setDefaultTimeout(15_000);
await context.route('**/*', (route) => {
  const url = new URL(route.request().url());
  if (url.protocol === 'data:' || url.protocol === 'blob:' || LOOPBACK.has(url.hostname)) return route.continue();
  offsite.push(url.href);
  return route.abort('blockedbyclient');
});
await context.addInitScript(() => {
  window.__cspViolations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
  });
});
const page = context.pages()[0] ?? (await context.newPage());
page.on('pageerror', (error) => pageErrors.push(`${error.name}: ${error.message}`));
page.on('console', (msg) => {
  if (msg.type() === 'error') consoleErrors.push(msg.text());
});

let step = 0;
async function check(name, run) {
  step += 1;
  const file = join(shots, `${phase}-${String(step).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
  try {
    await run();
    await page.screenshot({ path: file, fullPage: true });
    const violations = await page.evaluate(() => window.__cspViolations ?? []);
    if (violations.length) throw new Error(`CSP violations: ${violations.join('; ')}`);
    if (pageErrors.length) throw new Error(`uncaught page errors: ${pageErrors.join('; ')}`);
    if (offsite.length) throw new Error(`requests left the machine: ${offsite.join(', ')}`);
    console.log(`ok - ${name}`);
  } catch (error) {
    await page.screenshot({ path: file.replace(/\.png$/, '-FAILED.png'), fullPage: true }).catch(() => {});
    console.error(`not ok - ${name}`);
    console.error(error);
    if (consoleErrors.length) console.error(`console errors:\n${consoleErrors.join('\n')}`);
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
    process.exit(1);
  }
}

/** An input by its label, which ends with ` *` when the input is required. */
const label = (name) => page.getByLabel(new RegExp(`^${name}(\\s*\\*)?$`));
const visible = (locator) => locator.first().waitFor({ state: 'visible' });
const hidden = (locator) => locator.first().waitFor({ state: 'hidden' });

/** Polls `probe` until `holds(value)`; throws with the last value after `timeout` ms. */
async function eventually(what, probe, holds, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let value;
  for (;;) {
    value = await probe();
    if (holds(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeout} ms; last seen ${JSON.stringify(value)}`);
    await page.waitForTimeout(100);
  }
}

/** Picks a page size in the list's footer. A click that lands while MUI's menu is still opening
 * can be lost (a CI run saw the menu stay open on the old size), so the pick is retried until
 * the footer shows the new size and the menu has closed. */
async function rowsPerPage(n) {
  const size = page.getByRole('combobox', { name: /Rows per page/ });
  const listbox = page.getByRole('listbox');
  await eventually(`${n} rows per page`, async () => {
    if ((await size.textContent())?.trim() !== String(n)) {
      if (!(await listbox.isVisible())) await size.click();
      await page.getByRole('option', { name: String(n), exact: true }).click({ timeout: 2_000 }).catch(() => {});
    }
    return { size: (await size.textContent())?.trim(), open: await listbox.isVisible() };
  }, (v) => v.size === String(n) && !v.open);
}

/** The texts of one Datagrid column (`source`), top to bottom. */
const column = (source) => page.locator(`tbody td.column-${source}`).allTextContents();
const lower = (list) => list.map((v) => v.toLowerCase());
const ascending = (list) => lower(list).every((v, i, all) => i === 0 || all[i - 1] <= v);
const descending = (list) => lower(list).every((v, i, all) => i === 0 || all[i - 1] >= v);
const storedSession = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('adminql.session')));
/** The next /graphql response whose request contains `text`. */
const graphqlResponse = (text, timeout) =>
  page.waitForResponse((r) => r.url().endsWith('/graphql') && (r.request().postData() ?? '').includes(text), { timeout });
const day = (date) => date.toISOString().slice(0, 10);
const daysFrom = (date, n) => new Date(date.getTime() + n * 86_400_000);

const PATHS = { Users: 'User', Roles: 'Role', Permissions: 'Permission', 'Audit log': 'AuditLog' };

/** Opens a list from the menu, and waits until that list has rendered (its title is in the
 * app bar), so rows found next are its own, not the previous page's. */
async function menu(name) {
  await page.getByRole('menuitem', { name }).click();
  await page.waitForURL(new RegExp(`#/${PATHS[name]}(\\?.*)?$`));
  await visible(page.locator('#react-admin-title').getByText(name, { exact: true }));
}

/** Opens a record from its list row and waits until its form holds the record fetched for
 * it: react-admin first fills the form from the list's copy and resets it when the fetch
 * answers, so typing before then would be undone. `field` is the input that names it. */
async function edit(resource, text, field = 'Email') {
  const fetched = page.waitForResponse(
    (r) => r.url().endsWith('/graphql') && (r.request().postData() ?? '').includes(`"operationName":"${resource}"`),
  );
  await page.getByRole('row').filter({ hasText: text }).click();
  await fetched;
  await eventually(`the form of ${text}`, () => label(field).inputValue(), (v) => v === text);
  // One more frame: the reset that follows the answer is committed.
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
}

async function signIn(email, password) {
  await page.goto(`${base}/admin`);
  await label('Email').fill(email);
  await label('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await visible(page.getByRole('menuitem', { name: 'Users' }));
}

async function signOut() {
  await page.getByRole('button', { name: 'Profile' }).click();
  await page.getByRole('menuitem', { name: 'Logout' }).click();
  await visible(page.getByRole('button', { name: 'Sign in' }));
}

/** A GraphQL request outside the browser (to set the stage, or to check what the server
 * thinks afterwards); the whole response body. */
async function graphql(token, query, variables = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${base}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return response.json();
}

/** Like `graphql`, but only the data: any error throws. */
async function api(token, query, variables = {}) {
  const body = await graphql(token, query, variables);
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const REFRESH = 'mutation($t: String!) { refreshToken(token: $t) { token } }';

/** Throws unless `body` is a GraphQL error with `code`. */
function refusedWith(code, body, what) {
  const got = body.errors?.[0]?.extensions?.code;
  if (got !== code) throw new Error(`${what}: expected ${code}, got ${JSON.stringify(body)}`);
}

const suffix = Date.now().toString(36);
const roleName = `support-${suffix}`;
const userEmail = `ui-${suffix}@example.com`;
const userPassword = 'ui-password-12345';
const userNewPassword = 'ui-password-reset-67890';
const runStart = new Date();

if (phase === 'main') {
  const adminEmail = env('ADMIN_EMAIL');
  const adminPassword = env('ADMIN_PASSWORD');
  const reader = { email: env('READER_EMAIL'), password: env('READER_PASSWORD') };
  const members = JSON.parse(env('MEMBERS'));
  const inactive = members.find((m) => !m.active);
  const deleteEmail = env('DELETE_EMAIL');

  await check('GraphiQL loads under its CSP', async () => {
    await page.goto(`${base}/graphiql`);
    await visible(page.locator('.graphiql-container'));
    await visible(page.getByText('Not signed in'));
  });

  await check('sign-in page', async () => {
    await page.goto(`${base}/admin`);
    await visible(page.getByRole('button', { name: 'Sign in' }));
  });

  await check('wrong password is refused', async () => {
    await label('Email').fill(adminEmail);
    await label('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByTestId('login-error'));
  });

  await check('sign in as admin', async () => {
    await signIn(adminEmail, adminPassword);
    await visible(page.getByRole('menuitem', { name: 'Audit log' }));
    await visible(page.getByRole('menuitem', { name: 'System status' }));
    await visible(page.getByRole('row').filter({ hasText: adminEmail }));
  });

  if (process.env.SHORT_ACCESS_TOKENS) {
    await check('the access token is refreshed before it expires', async () => {
      const before = (await storedSession()).token;
      const refreshed = await graphqlResponse('refreshToken(token:', 30_000);
      const body = await refreshed.json();
      if (!body.data?.refreshToken?.token) throw new Error(`refresh failed: ${JSON.stringify(body)}`);
      await page.waitForFunction((old) => JSON.parse(sessionStorage.getItem('adminql.session')).token !== old, before);
      await menu('Permissions');
      await visible(page.getByRole('row').filter({ hasText: 'audit:read' }));
    });
  }

  await check('create a role with a permission checklist', async () => {
    await menu('Roles');
    await page.getByRole('link', { name: 'Create' }).click();
    await label('Name').fill(roleName);
    await label('Description').fill('Helpdesk: reads users');
    await page.getByTestId('permissions-user').getByLabel(/user:read/).check();
    await page.getByTestId('permissions-role').getByLabel(/role:read/).check();
    await page.getByRole('button', { name: 'Save' }).click();
    await visible(page.getByRole('row').filter({ hasText: roleName }));
  });

  await check('create a user with that role: in the list at once', async () => {
    await menu('Users');
    await page.getByRole('link', { name: 'Create' }).click();
    await label('Email').fill(userEmail);
    await label('Name').fill('Una Interface');
    await label('Password').fill(userPassword);
    await label('Roles').click();
    await page.getByRole('option', { name: roleName }).click();
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Save' }).click();
    const row = page.getByRole('row').filter({ hasText: userEmail });
    await visible(row);
    await visible(row.getByText(roleName));
  });

  await check('search and filter the user list by role', async () => {
    await page.getByPlaceholder('Search email or name').fill('Una Interface');
    await visible(page.getByRole('row').filter({ hasText: userEmail }));
    await hidden(page.getByRole('row').filter({ hasText: adminEmail }));
    await page.getByPlaceholder('Search email or name').fill('');
    await visible(page.getByRole('row').filter({ hasText: adminEmail }));
    await page.getByRole('button', { name: 'Add filter' }).click();
    await page.getByRole('menu').getByText('Role', { exact: true }).click();
    await label('Role').click();
    await page.getByRole('option', { name: roleName }).click();
    await visible(page.getByRole('row').filter({ hasText: userEmail }));
    await hidden(page.getByRole('row').filter({ hasText: adminEmail }));
    await page.getByRole('button', { name: 'Remove this filter' }).first().click();
    await visible(page.getByRole('row').filter({ hasText: adminEmail }));
  });

  await check('sort the user list by name, both ways, then by email', async () => {
    // Sorted by email, the members' names run backwards: only a sort by name orders them.
    const everyone = (names) => names.length >= members.length + 2;
    const byEmail = await eventually('the list by email', () => column('email'), (e) => everyone(e) && ascending(e));
    if (ascending(await column('name'))) throw new Error('names already in order: the check would prove nothing');
    await page.getByRole('button', { name: /^Sort by name/ }).click();
    await eventually('names ascending', () => column('name'), (n) => everyone(n) && ascending(n));
    if (!page.url().includes('sort=name') || !page.url().includes('order=ASC')) throw new Error(`URL ${page.url()}`);
    await page.getByRole('button', { name: /^Sort by name/ }).click();
    await eventually('names descending', () => column('name'), (n) => everyone(n) && descending(n) && !ascending(n));
    await page.getByRole('button', { name: /^Sort by email/ }).click();
    await eventually('emails ascending again', () => column('email'), (e) => e.join() === byEmail.join());
  });

  await check('filter the user list by active', async () => {
    await page.getByRole('button', { name: 'Add filter' }).click();
    await page.getByRole('menu').getByText('Active', { exact: true }).click();
    await label('Active').click();
    await page.getByRole('option', { name: 'No', exact: true }).click();
    await eventually('only the inactive member', () => column('email'), (e) => e.join() === inactive.email);
    await label('Active').click();
    await page.getByRole('option', { name: 'Yes', exact: true }).click();
    await eventually('every active account', () => column('email'), (e) => e.includes(adminEmail) && e.includes(userEmail) && !e.includes(inactive.email));
    await page.getByRole('button', { name: 'Remove this filter' }).first().click();
    await eventually('the inactive member back', () => column('email'), (e) => e.includes(inactive.email) && e.includes(adminEmail));
  });

  await check('page through the user list', async () => {
    const range = page.locator('.MuiTablePagination-displayedRows');
    await rowsPerPage(5);
    const total = async () => Number(/ of (\d+)$/.exec(await range.textContent())?.[1]);
    const first = await eventually('page 1 of 5 rows', () => column('email'), (e) => e.length === 5);
    const n = await total();
    if (!(n > 5) || (await range.textContent()) !== `1-5 of ${n}`) throw new Error(`page 1 says "${await range.textContent()}"`);
    await page.getByRole('button', { name: 'Go to next page' }).click();
    const second = await eventually('page 2', () => column('email'), (e) => e.length === Math.min(5, n - 5) && e[0] !== first[0]);
    if ((await range.textContent()) !== `6-${Math.min(10, n)} of ${n}`) throw new Error(`page 2 says "${await range.textContent()}"`);
    if (!page.url().includes('page=2')) throw new Error(`URL ${page.url()}`);
    // The pages continue one another: no row twice, the order kept across the break.
    if (!ascending([...first, ...second]) || second.some((e) => first.includes(e))) throw new Error(`pages ${first} | ${second}`);
    await rowsPerPage(25);
    await eventually('one page again', () => column('email'), (e) => e.length === n);
  });

  let userId;
  await check('edit the user: the list shows the change at once', async () => {
    await edit('User', userEmail);
    userId = decodeURIComponent(page.url().split('/').pop());
    await label('Name').fill('Una Edited');
    await page.getByRole('button', { name: 'Save' }).click();
    await visible(page.getByRole('row').filter({ hasText: userEmail }).getByText('Una Edited'));
  });

  await check('find the user audit entries, with a before/after diff', async () => {
    const filter = encodeURIComponent(JSON.stringify({ targetType: 'user', targetId: userId }));
    await page.goto(`${base}/admin#/AuditLog?filter=${filter}`);
    await visible(page.getByRole('row').filter({ hasText: 'user.create' }));
    await page.getByRole('row').filter({ hasText: 'user.update' }).click();
    const diff = page.getByTestId('audit-diff');
    await visible(diff.getByRole('row').filter({ hasText: 'name' }).getByText('"Una Interface"'));
    await visible(diff.getByRole('row').filter({ hasText: 'name' }).getByText('"Una Edited"'));
  });

  await check("edit the user's roles: the list shows them at once", async () => {
    await menu('Users');
    await edit('User', userEmail);
    await label('Roles').click();
    await page.getByRole('option', { name: 'viewer', exact: true }).click();
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Save' }).click();
    const row = page.getByRole('row').filter({ hasText: userEmail });
    await visible(row.getByText(roleName));
    await visible(row.getByText('viewer', { exact: true }));
  });

  await check("a role's members are shown, in the list and on its page", async () => {
    await menu('Roles');
    const viewers = page.getByRole('row').filter({ hasText: 'Reads users and roles' });
    await visible(viewers.getByText(reader.email));
    await visible(viewers.getByText(userEmail));
    const support = page.getByRole('row').filter({ hasText: roleName });
    await visible(support.getByText(userEmail));
    if (await support.getByText(reader.email).count()) throw new Error(`${reader.email} shown as a member of ${roleName}`);
    await edit('Role', roleName, 'Name');
    await visible(page.getByRole('row').filter({ hasText: userEmail }).getByText('Una Edited'));
  });

  await check('edit a role: permissions and description, in the list at once', async () => {
    // On the role's page, opened by the previous step.
    await label('Description').fill('Helpdesk: reads users and the audit log');
    await page.getByTestId('permissions-audit').getByLabel(/audit:read/).check();
    await page.getByRole('button', { name: 'Save' }).click();
    const row = page.getByRole('row').filter({ hasText: roleName });
    await visible(row.getByText('Helpdesk: reads users and the audit log'));
    await eventually('3 permissions', () => row.locator('td.column-permissionsIds').textContent(), (t) => t === '3');
  });

  await check("reset the user's password from the edit form", async () => {
    await menu('Users');
    await edit('User', userEmail);
    await label('New password').fill(userNewPassword);
    await page.getByRole('button', { name: 'Save' }).click();
    await visible(page.getByRole('row').filter({ hasText: userEmail }));
    // Signing in with it is checked after sign-out, below.
  });

  await check('filter the audit log by actor, action and date range', async () => {
    await page.goto(`${base}/admin#/AuditLog?filter=%7B%7D`);
    await label('Actor').fill('reader');
    await page.getByRole('option', { name: reader.email }).click();
    const entries = async () => ({ actors: await column('actorUserId'), actions: await column('action') });
    await eventually(
      `only ${reader.email}'s entries`,
      entries,
      (e) => e.actors.length > 0 && e.actors.every((a) => a === reader.email) && e.actions.includes('auth.login'),
    );
    await label('Action').fill('auth.login');
    await eventually('their sign-ins', entries, (e) => e.actions.length > 0 && e.actions.every((a) => a === 'auth.login') && e.actors.every((a) => a === reader.email));
    await label('Action').fill('user.create');
    await visible(page.getByText(/found using the current filters/));

    // The action alone: every user.create, the one of our user among them.
    const created = page.getByRole('row').filter({ has: page.getByRole('cell', { name: `user #${userId}`, exact: true }) });
    await page.goto(`${base}/admin#/AuditLog?filter=${encodeURIComponent(JSON.stringify({ action: 'user.create' }))}`);
    await eventually('every user.create', entries, (e) => e.actions.length >= members.length + 2 && e.actions.every((a) => a === 'user.create') && e.actors.every((a) => a === adminEmail));
    await visible(created);

    // Dates: a range that holds today shows it; one that starts tomorrow or ends before
    // this run began does not.
    await page.getByRole('button', { name: 'Add filter' }).click();
    await page.getByRole('menu').getByText('From', { exact: true }).click();
    await label('From').fill(day(daysFrom(new Date(), 1)));
    await visible(page.getByText(/found using the current filters/));
    await label('From').fill(day(daysFrom(runStart, -1)));
    await page.getByRole('button', { name: 'Add filter' }).click();
    await page.getByRole('menu').getByText('To', { exact: true }).click();
    await label('To').fill(day(new Date()));
    await visible(created);
    if (!page.url().includes('at_gte') || !page.url().includes('at_lte')) throw new Error(`URL ${page.url()}`);
    await label('To').fill(day(daysFrom(runStart, -1)));
    await hidden(created);
  });

  await check('a refused guardrail shows its message next to the field', async () => {
    await menu('Users');
    await edit('User', adminEmail);
    await label('Active').uncheck();
    await page.getByRole('button', { name: 'Save' }).click();
    const message = page.getByText(/you cannot deactivate yourself \(request id [0-9a-f-]+\)/);
    await visible(message);
    // Next to the field: inside the same form control as the switch.
    const control = page.locator('.MuiFormControl-root, .ra-input').filter({ has: label('Active') });
    await visible(control.getByText(/deactivate yourself/));
  });

  await check('the last admin keeps the admin role: the refusal shows under Roles', async () => {
    // A fresh form: the previous step left Active unchecked.
    await menu('Users');
    await edit('User', adminEmail);
    await label('Roles').click();
    await page.getByRole('option', { name: 'admin', exact: true }).click();
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Save' }).click();
    const refusal = /leave no active user with the admin role.*\(request id [0-9a-f-]+\)/;
    await visible(page.getByText(refusal));
    const control = page.locator('.MuiFormControl-root, .ra-input').filter({ has: label('Roles') });
    await visible(control.getByText(refusal));
  });

  await check('system status: the database, its replicas and their lag, refreshed live', async () => {
    await page.goto(`${base}/admin#/status`);
    await visible(page.getByTestId('status-read-only').getByText('accepted'));
    await visible(page.getByTestId('pools'));
    const updated = page.getByTestId('status-updated');
    const first = await eventually('a refresh time', () => updated.textContent(), (t) => /\d/.test(t ?? ''));
    await eventually('a later refresh, with no reload', () => updated.textContent(), (t) => t !== first, 8_000);
    const expected = Number(process.env.EXPECT_REPLICAS ?? 0);
    if (expected) {
      const texts = (id) => page.getByTestId(id).allTextContents();
      const lags = () => texts('replica-lag');
      const before = await eventually(
        `${expected} replicas, each in rotation, with a lag`,
        async () => ({ lags: await lags(), inRotation: await texts('replica-in-rotation') }),
        (r) => r.lags.length === expected && r.lags.every((l) => /^\d+\.\d s$/.test(l)) && r.inRotation.every((v) => v === 'yes'),
      );
      // They stopped applying: the lag shown keeps growing, poll after poll.
      await eventually('every lag growing', lags, (now) => now.every((l, i) => parseFloat(l) > parseFloat(before.lags[i])), 8_000);
    }
  });

  await check('delete a role after confirming', async () => {
    const spare = `spare-${suffix}`;
    await menu('Roles');
    await page.getByRole('link', { name: 'Create' }).click();
    await label('Name').fill(spare);
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('row').filter({ hasText: spare }).click();
    await page.getByRole('button', { name: 'Delete' }).click();
    await visible(page.getByRole('dialog'));
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await visible(page.getByRole('row').filter({ hasText: roleName }));
    await hidden(page.getByRole('row').filter({ hasText: spare }));
  });

  await check('delete a user: cancel keeps it, confirm removes it from the list at once', async () => {
    await menu('Users');
    await edit('User', deleteEmail);
    const editing = page.url();
    await page.getByRole('button', { name: 'Delete' }).click();
    await visible(page.getByRole('dialog').getByText(/delete/i));
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await hidden(page.getByRole('dialog'));
    if (page.url() !== editing || (await label('Email').inputValue()) !== deleteEmail) throw new Error('Cancel did not keep the user');
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await visible(page.getByRole('row').filter({ hasText: adminEmail }));
    await hidden(page.getByRole('row').filter({ hasText: deleteEmail }));
  });

  await check('sign out: logout is sent, and the refresh token stops working', async () => {
    const before = await storedSession();
    const answer = graphqlResponse('logout(');
    await signOut();
    const body = await (await answer).json();
    if (body.data?.logout !== true) throw new Error(`logout did not revoke the session: ${JSON.stringify(body)}`);
    if (await storedSession()) throw new Error('the session is still in sessionStorage');
    refusedWith('UNAUTHENTICATED', await graphql(null, REFRESH, { t: before.refreshToken }), 'the old refresh token');
  });

  await check('the reset password signs in, the old one does not', async () => {
    await page.goto(`${base}/admin`);
    await label('Email').fill(userEmail);
    await label('Password').fill(userPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByTestId('login-error'));
    await signIn(userEmail, userNewPassword);
    // The role edited above gave audit:read; nothing gave system:read.
    await visible(page.getByRole('menuitem', { name: 'Audit log' }));
    if (await page.getByRole('menuitem', { name: 'System status' }).count()) throw new Error('status menu shown');
    await signOut();
  });

  await check('without user:write or audit:read: no edit controls, no audit menu', async () => {
    await signIn(reader.email, reader.password);
    const row = page.getByRole('row').filter({ hasText: userEmail });
    await visible(row);
    if (await page.getByRole('menuitem', { name: 'Audit log' }).count()) throw new Error('audit menu shown');
    if (await page.getByRole('menuitem', { name: 'System status' }).count()) throw new Error('status menu shown');
    if (await page.getByRole('link', { name: 'Create' }).count()) throw new Error('Create shown');
    if (await page.getByRole('checkbox').count()) throw new Error('bulk selection shown');
    await row.click();
    if (!page.url().endsWith('#/User')) throw new Error(`row click opened ${page.url()}`);
  });

  await check('change password from the profile menu', async () => {
    await page.getByRole('button', { name: 'Profile' }).click();
    await page.getByRole('menuitem', { name: 'Change password' }).click();
    await label('Current password').fill(reader.password);
    await label('New password').fill(`${reader.password}-new`);
    await label('New password again').fill(`${reader.password}-new`);
    await page.getByRole('button', { name: 'Change password' }).click();
    await visible(page.getByText(/Password changed/));
    // The new session replaced the old one: the UI keeps working.
    await menu('Users');
    await visible(page.getByRole('row').filter({ hasText: userEmail }));
  });

  await check('a revoked session returns to sign-in with a message', async () => {
    // The admin deactivates the reader: their access token stops working at once.
    const admin = (await api(null, 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }', { e: adminEmail, p: adminPassword })).login.token;
    const me = (await storedSession()).user.id;
    await api(admin, 'mutation($id: ID!) { updateUser(id: $id, active: false) { id } }', { id: me });
    await page.getByRole('menuitem', { name: 'Roles' }).click();
    await visible(page.getByTestId('signed-out-reason').getByText(/expired or was revoked/));
    await api(admin, 'mutation($id: ID!) { updateUser(id: $id, active: true) { id } }', { id: me });
  });

  if (process.env.SHORT_ACCESS_TOKENS) {
    await check('an expired access token that cannot be refreshed returns to sign-in with a message', async () => {
      await signIn(adminEmail, adminPassword);
      const session = await storedSession();
      // The tab goes away (no timer runs) while its refresh token is revoked elsewhere and
      // its access token runs out.
      await page.goto('about:blank');
      const revoked = await api(session.token, 'mutation($t: String!) { logout(refreshToken: $t) }', { t: session.refreshToken });
      if (revoked.logout !== true) throw new Error('the refresh token was not revoked');
      const wait = Date.parse(session.expiresAt) + 500 - Date.now();
      if (wait > 0) await page.waitForTimeout(wait);
      const attempt = graphqlResponse('refreshToken(token:');
      await page.goto(`${base}/admin#/User`);
      refusedWith('UNAUTHENTICATED', await (await attempt).json(), "the UI's refresh");
      await visible(page.getByTestId('signed-out-reason').getByText(/expired or was revoked/));
      await visible(page.getByRole('button', { name: 'Sign in' }));
      if (await storedSession()) throw new Error('the dead session is still in sessionStorage');
    });
  }
} else if (phase === 'read-only') {
  await check('read-only mode shows a banner and disables saving', async () => {
    await page.addInitScript((s) => sessionStorage.setItem('adminql.session', s), env('SESSION'));
    await page.goto(`${base}/admin#/User`);
    await visible(page.getByTestId('read-only-banner'));
    await visible(page.getByRole('row').filter({ hasText: env('ADMIN_EMAIL') }));
    await page.getByRole('row').filter({ hasText: env('ADMIN_EMAIL') }).click();
    await visible(label('Name'));
    await label('Name').fill('Changed while read-only');
    if (!(await page.getByRole('button', { name: 'Save' }).isDisabled())) throw new Error('Save is enabled in read-only mode');
  });
} else {
  throw new Error(`unknown PHASE ${phase}`);
}

await context.close();
rmSync(userDataDir, { recursive: true, force: true });
if (consoleErrors.length) console.log(`console errors (not failures):\n${consoleErrors.join('\n')}`);
console.log('all checks passed');
