// The lab's API from the browser: send a parcel (寄快递) and follow it (查询物流).
// This page is served by the lab's own FastAPI app, so relative URLs reach the API.

export let TIME_SCALE = 1;

/** GET /health: is the lab up? Also reads its one clock knob, LAB_TIME_SCALE. */
export async function loadHealth() {
  const response = await fetch("/health", { cache: "no-store" });
  const health = await response.json();
  TIME_SCALE = Number(health.time_scale ?? 1);
  return health;
}

/** A demo delay in ms, compressed like the workers' delays (LAB_TIME_SCALE), never below `floor`. */
export function scaled(ms, floor = 20) {
  return Math.max(floor, ms * TIME_SCALE);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** POST /tasks: hand in a parcel, get its tracking number (the job id). options: {retry, timeout} */
export async function submitJob(task, params = {}, options = {}) {
  const response = await fetch("/tasks", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ task, params, ...options }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail ?? `HTTP ${response.status}`);
  return body.id;
}

// The lifecycle events a job's stream sends (see GET /tasks/{id}/stream).
export const EVENT_TYPES = [
  "enqueued", "started", "progress", "retry_scheduled", "timed_out", "abandoned",
  "completed", "failed", "cancelled", "dead_lettered", "redriven", "discarded",
];

/**
 * Follow one job with Server-Sent Events until its final state.
 * Calls onEvent(event) for each lifecycle event; resolves with the `end` message.
 * (onmessage only sees messages without an `event:` line, so we listen by type.)
 */
export function followJob(id, onEvent) {
  return new Promise((resolve, reject) => {
    const source = new EventSource(`/tasks/${id}/stream`);
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message) => onEvent(JSON.parse(message.data)));
    }
    source.addEventListener("end", (message) => {
      source.close(); // the job is over: stop the browser from reconnecting
      resolve(JSON.parse(message.data));
    });
    source.addEventListener("error", (message) => {
      if (message.data) {  // the server's own `event: error` (it lost the broker)
        source.close();
        reject(new Error(JSON.parse(message.data).error));
      } else if (source.readyState === EventSource.CLOSED) {  // e.g. 404: no such job
        reject(new Error(`cannot follow job ${id}`));
      }
    });
  });
}
