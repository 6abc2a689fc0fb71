// Stub: filled in by a later chunk of issue 22 (design-22.md §4).
export {};
