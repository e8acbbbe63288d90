// worker.js: runs in a Web Worker, a background thread of the page (the seed's worker.js).
import { slowWork } from "./slow-work.js";

self.onmessage = (event) => {
  const { steps, stepMs } = event.data;  // the task, sent with worker.postMessage(...)
  const result = slowWork(steps, stepMs, (progress) => self.postMessage({ type: "progress", ...progress }));
  self.postMessage({ type: "done", result });  // arrives in worker.onmessage on the page
};
