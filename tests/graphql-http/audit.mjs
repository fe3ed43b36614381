// Runs graphql-http's server audits against ADMINQL_URL/graphql and prints one line per
// audit. Exits 1 on any failure; warnings are listed (README explains each one we keep).
import { serverAudits } from 'graphql-http';

const url = `${process.env.ADMINQL_URL}/graphql`;
let failures = 0;
let warnings = 0;
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  const result = await audit.fn();
  if (result.status === 'ok') continue;
  if (result.status === 'warn') warnings += 1;
  else failures += 1;
  console.log(`${result.status.toUpperCase()} ${audit.id} ${audit.name}: ${result.reason}`);
}
console.log(`graphql-http audit: ${failures} failures, ${warnings} warnings`);
process.exit(failures === 0 ? 0 : 1);
