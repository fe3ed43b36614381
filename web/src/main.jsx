import { createRoot } from 'react-dom/client';
import createCache from '@emotion/cache';
import { CacheProvider } from '@emotion/react';
import { App } from './App.jsx';
import { schedule } from './session.js';

// The page's CSP allows only <style> elements that carry this response's nonce: MUI's
// styles get it through emotion's cache.
const nonce = document.querySelector('meta[name="csp-nonce"]')?.content;
const cache = createCache({ key: 'css', nonce, prepend: true });

// A reload keeps the session (sessionStorage): start its refresh timer again.
schedule();
createRoot(document.getElementById('root')).render(
  <CacheProvider value={cache}>
    <App />
  </CacheProvider>,
);
