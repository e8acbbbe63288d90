// 类比7: dead-letter queue = Error Boundary = the returns centre (退件处理中心).
import { followJob, submitJob } from "./lab-api.js";

// A tiny Error Boundary without React: render the child; if it throws,
// log the error (componentDidCatch) and show the fallback UI instead.
export function errorBoundary(container, renderChild, { fallback, logError }) {
  try {
    container.replaceChildren(renderChild());
    return true;
  } catch (error) {
    logError(error);                               // logErrorToService(error)
    container.replaceChildren(fallback(error));    // <h1>出错了，请稍后重试</h1>
    return false;
  }
}

// The child component: a parcel card. A poison record makes it throw.
export function ParcelCard(record) {
  if (record.poison) throw new Error(`cannot render poison record ${JSON.stringify(record)}`);
  const card = document.createElement("div");
  card.className = "parcel-card";
  card.textContent = `📦 ${record.name}: delivered`;
  return card;
}

// The backend's boundary: the worker catches the job's exception, redelivers it,
// and after the last retry files it in the dead-letter queue (GET /dlq/{id}).
export async function sendRiskyParcel(record, onEvent) {
  const id = await submitJob("risky_task", { data: record });
  const end = await followJob(id, onEvent);
  if (end.state !== "failed") return { id, end, returned: null };
  const response = await fetch(`/dlq/${id}`);
  return { id, end, returned: response.ok ? await response.json() : null };
}

// Handled by a person (人工处理): deliver it again, with corrected parameters, as a new job.
export async function redrive(id, params) {
  const response = await fetch(`/dlq/${id}/redrive`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ params }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail ?? `HTTP ${response.status}`);
  return body.id;  // the new job's id; the old one keeps its history
}
