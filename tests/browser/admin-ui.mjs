// Drives the admin UI at /admin in Debian's headless Chromium, as a person would, against a
// running adminql (tests/it/admin_ui.rs starts the server and runs this).
//
// Env: ADMINQL_URL (base URL), ADMIN_EMAIL/ADMIN_PASSWORD (an admin), READER_EMAIL/
// READER_PASSWORD (an account with user:read but neither user:write nor audit:read),
// SCREENSHOTS (a directory for one PNG per step), PHASE (`main`, or `read-only` with
// SESSION, a login payload obtained before the primary was stopped).
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

/** A GraphQL request outside the browser (to set the stage, not to check the UI). */
async function api(token, query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const suffix = Date.now().toString(36);
const roleName = `support-${suffix}`;
const userEmail = `ui-${suffix}@example.com`;

if (phase === 'main') {
  const adminEmail = env('ADMIN_EMAIL');
  const adminPassword = env('ADMIN_PASSWORD');

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

  if (process.env.EXPECT_REFRESH) {
    await check('the access token is refreshed before it expires', async () => {
      const before = await page.evaluate(() => JSON.parse(sessionStorage.getItem('adminql.session')).token);
      const refreshed = await page.waitForResponse((r) => r.request().postData()?.includes('refreshToken(token:'), { timeout: 30_000 });
      const body = await refreshed.json();
      if (!body.data?.refreshToken?.token) throw new Error(`refresh failed: ${JSON.stringify(body)}`);
      await page.waitForFunction((old) => JSON.parse(sessionStorage.getItem('adminql.session')).token !== old, before);
      await page.getByRole('menuitem', { name: 'Permissions' }).click();
      await visible(page.getByRole('row').filter({ hasText: 'audit:read' }));
    });
  }

  await check('create a role with a permission checklist', async () => {
    await page.getByRole('menuitem', { name: 'Roles' }).click();
    await page.getByRole('link', { name: 'Create' }).click();
    await label('Name').fill(roleName);
    await label('Description').fill('Helpdesk: reads users');
    await page.getByTestId('permissions-user').getByLabel(/user:read/).check();
    await page.getByTestId('permissions-role').getByLabel(/role:read/).check();
    await page.getByRole('button', { name: 'Save' }).click();
    await visible(page.getByRole('row').filter({ hasText: roleName }));
  });

  await check('create a user with that role: in the list at once', async () => {
    await page.getByRole('menuitem', { name: 'Users' }).click();
    await page.getByRole('link', { name: 'Create' }).click();
    await label('Email').fill(userEmail);
    await label('Name').fill('Una Interface');
    await label('Password').fill('ui-password-12345');
    await label('Roles').click();
    await page.getByRole('option', { name: roleName }).click();
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Save' }).click();
    const row = page.getByRole('row').filter({ hasText: userEmail });
    await visible(row);
    await visible(row.getByText(roleName));
  });

  await check('search, filter and sort the user list', async () => {
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
    await page.getByRole('button', { name: 'Name' }).click();
  });

  let userId;
  await check('edit the user: the list shows the change at once', async () => {
    await page.getByRole('row').filter({ hasText: userEmail }).click();
    await visible(page.getByRole('button', { name: 'Save' }));
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

  await check('a refused guardrail shows its message next to the field', async () => {
    await page.getByRole('menuitem', { name: 'Users' }).click();
    await page.getByRole('row').filter({ hasText: adminEmail }).click();
    await label('Active').uncheck();
    await page.getByRole('button', { name: 'Save' }).click();
    const message = page.getByText(/you cannot deactivate yourself \(request id [0-9a-f-]+\)/);
    await visible(message);
    // Next to the field: inside the same form control as the switch.
    const control = page.locator('.MuiFormControl-root, .ra-input').filter({ has: label('Active') });
    await visible(control.getByText(/deactivate yourself/));
  });

  await check('system status shows the database', async () => {
    await page.goto(`${base}/admin#/status`);
    await visible(page.getByTestId('status-read-only').getByText('accepted'));
    await visible(page.getByTestId('pools'));
  });

  await check('delete a role after confirming', async () => {
    const spare = `spare-${suffix}`;
    await page.getByRole('menuitem', { name: 'Roles' }).click();
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

  await check('sign out', async () => {
    await signOut();
  });

  const reader = { email: env('READER_EMAIL'), password: env('READER_PASSWORD') };
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
    await page.getByRole('menuitem', { name: 'Users' }).click();
    await visible(page.getByRole('row').filter({ hasText: userEmail }));
  });

  await check('a revoked session returns to sign-in with a message', async () => {
    // The admin deactivates the reader: their access token stops working at once.
    const admin = await (async () => {
      const r = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }', variables: { e: adminEmail, p: adminPassword } }),
      });
      return (await r.json()).data.login.token;
    })();
    const me = await page.evaluate(() => JSON.parse(sessionStorage.getItem('adminql.session')).user.id);
    await api(admin, 'mutation($id: ID!) { updateUser(id: $id, active: false) { id } }', { id: me });
    await page.getByRole('menuitem', { name: 'Roles' }).click();
    await visible(page.getByTestId('signed-out-reason').getByText(/expired or was revoked/));
    await api(admin, 'mutation($id: ID!) { updateUser(id: $id, active: true) { id } }', { id: me });
  });
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
