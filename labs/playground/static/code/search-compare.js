// Scenario 1's search, twice: the same queries through the hashing embedder and the real model.
// GET /search/compare answers 202 while the server indexes the sample handbooks (long work of its own,
// done in the background), with Retry-After; the page polls until the 200, as it would for any long task.
import { sleep } from "./lab-api.js";

/**
 * Ask GET /search/compare; params: {} for the sample queries, or {q, handbook} for yours.
 * Calls onProgress({done, total}) while the server indexes; resolves with the 200 answer:
 * {embedders: {hashing, model}, handbooks, rows: [{kind, query, handbook, hashing: {rank, top, score}, model: {...}}]}
 */
export async function compareEmbedders(params = {}, onProgress = () => {}) {
  const url = `/search/compare?${new URLSearchParams(params)}`;
  for (;;) {
    const response = await fetch(url, { cache: "no-store" });
    const body = await response.json();
    if (response.status === 202) {  // still indexing: wait as long as the server asks, then ask again
      onProgress(body);
      await sleep(1000 * Number(response.headers.get("Retry-After") ?? 1));
      continue;
    }
    if (!response.ok) throw new Error(body.detail ?? `HTTP ${response.status}`);  // 503: no real model, and why
    return body;
  }
}

/** How many rows of `kind` put the right handbook first under `embedder` ("hashing" or "model"). */
export function firsts(rows, kind, embedder) {
  return rows.filter((row) => row.kind === kind && row[embedder].rank === 1).length;
}
