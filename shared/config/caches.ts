/**
 * Every config loader's per-instance cache, so that whoever edits `config` documents in-process (the
 * emulator's database console, tests) can make the next call read them again.
 */
const clearers = new Set<() => void>();

export function registerConfigCache(clear: () => void): () => void {
  clearers.add(clear);
  return clear;
}

export function clearConfigCaches(): void {
  for (const clear of clearers) clear();
}
