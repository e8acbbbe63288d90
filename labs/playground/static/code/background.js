// 类比1: the same slow work, three ways. Only the first blocks the page.
import { slowWork } from "./slow-work.js";
import { submitJob, sleep } from "./lab-api.js";

// 1. On the main thread: the page cannot repaint or answer a click until it returns.
export function runOnMainThread(steps, stepMs, onProgress) {
  return slowWork(steps, stepMs, onProgress);
}

// 2. In a Web Worker: a background thread; messages in, messages out.
export function runInWebWorker(steps, stepMs, onProgress) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    worker.onmessage = (event) => {
      if (event.data.type === "progress") return onProgress(event.data);
      worker.terminate();
      resolve(event.data.result);
    };
    worker.onerror = (error) => { worker.terminate(); reject(error); };
    worker.postMessage({ steps, stepMs });  // 发送任务
  });
}

// 3. On the lab's task queue: a worker *process*, maybe on another machine.
//    Submit, keep the job id (快递单号), and poll its tracking page (查询物流).
export async function runOnQueue(steps, stepSeconds, onView, pollMs) {
  const id = await submitJob("slow_task", { steps, step_seconds: stepSeconds });
  let etag = null;
  while (true) {
    const response = await fetch(`/tasks/${id}?events=false`, {
      headers: etag ? { "If-None-Match": etag } : {},  // 304 Not Modified while nothing changed
      cache: "no-store",
    });
    if (response.status !== 304) {
      etag = response.headers.get("ETag");
      const view = await response.json();
      onView(view, response.status);
      if (view.state === "completed" || view.state === "failed") return view;
    } else {
      onView(null, 304);
    }
    await sleep(pollMs);
  }
}
