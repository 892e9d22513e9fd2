// nodeFlags owns the Node/V8 flags Prescient runs with, wherever it is launched (bin, npm start, Docker, tests, benches).
/**
 * `--max-semi-space-size=4`: V8's young generation defaults to 16 MB semi-spaces (32 MB committed). A proxy's garbage
 * is short-lived frames, so a 4 MB nursery holds it just as well and keeps the process ~12 MB smaller under load
 * (fuzz run, seed 7, 30 s: max RSS 144 → 132 MB, proxy CPU within 5 %; see docs/operations.md).
 * `--optimize-for-size`: V8 grows the old generation less between full collections. A proxy's live set is small (15–20
 * MB under the fuzzer) but it promotes short-lived garbage steadily; by default the old generation grew to ~60 MB before
 * a collection (fuzz, seed 1, 150,000 inputs: max RSS 162 → 115 MB, heap 58 → 25 MB; CPU per transaction in
 * docs/operations.md).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--optimize-for-size'];
