// Whether the API is in read-only mode: polled from systemStatus (for users who may read it)
// and set at once by any mutation refused with READ_ONLY_MODE.
import { useSyncExternalStore } from 'react';

let readOnly = false;
const listeners = new Set();

export function setReadOnly(value) {
  if (value === readOnly) return;
  readOnly = value;
  listeners.forEach((l) => l());
}

export function useReadOnly() {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => readOnly,
  );
}
