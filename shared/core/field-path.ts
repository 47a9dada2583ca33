/** A nested field (`a.b`) of a document, as config names a field of a business's collection; undefined if absent. */
export function fieldAt(doc: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), doc);
}
