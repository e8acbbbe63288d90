// 类比4: task states = Promise states = parcel tracking (快递物流状态).
import { followJob } from "./lab-api.js";

// The seed's Promise: pending, then fulfilled or rejected, once and for ever.
export function seedPromise(ms, succeed = true) {
  return new Promise((resolve, reject) => {
    setTimeout(() => (succeed ? resolve("done") : reject(new Error("failed"))), ms);
  });
}

// A job as a Promise: it settles when the job reaches a final state.
// onState(state) sees every state the job passes through, as the worker records it.
export function jobPromise(id, onState) {
  return new Promise((resolve, reject) => {
    let last = null;
    followJob(id, (event) => {
      if (event.state !== last) onState((last = event.state), event);
      if (event.event === "completed") resolve(event);
      if (event.event === "failed" || event.event === "cancelled") reject(new Error(event.error ?? event.reason));
    }).catch(reject);
  });
}

// JavaScript cannot read a Promise's state, so we note when it settles.
export function watchPromise(promise, onState) {
  onState("pending");
  promise.then(() => onState("fulfilled"), () => onState("rejected"));
  return promise;
}
