// Builds the admin UI for /admin. The GraphQL schema is read from ../schema.graphql at build
// time and handed to the data provider as introspection data, so the UI never sends an
// introspection query and always matches the binary it is built into.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { buildSchema, introspectionFromSchema } from 'graphql';

const here = fileURLToPath(new URL('.', import.meta.url));
const SCHEMA = process.env.ADMINQL_SCHEMA ?? `${here}../schema.graphql`;

function introspection() {
  const id = 'virtual:adminql-introspection';
  return {
    name: 'adminql-introspection',
    resolveId: (source) => (source === id ? `\0${id}` : null),
    load(source) {
      if (source !== `\0${id}`) return null;
      const schema = introspectionFromSchema(buildSchema(readFileSync(SCHEMA, 'utf8'))).__schema;
      return `export default ${JSON.stringify(schema)};`;
    },
  };
}

export default defineConfig({
  root: here,
  base: '/admin/',
  // JSX without @vitejs/plugin-react: no fast refresh is needed for a production build.
  esbuild: { jsx: 'automatic' },
  plugins: [introspection()],
  logLevel: 'warn',
  build: {
    assetsDir: 'assets',
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 4096,
    // Everything is same-origin and modern: no inline polyfill script (the CSP forbids inline scripts).
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    rollupOptions: {
      onwarn(warning, warn) {
        // MUI's "use client" directives mean nothing in a client-only bundle.
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
