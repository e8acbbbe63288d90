// Panel 7 · SSE = a radio: EventSource reconnects by itself with Last-Event-ID.
// "Cut the signal" asks the server to end the stream (the browser reconnects on its own);
// "close & reopen" does it by hand with ?last_event_id=. Either way: every event once.
import { submitJob } from "../code/lab-api.js";
import { Radio } from "../code/radio.js";
import { setText, t } from "../i18n.js";
import { $, addLog, checkSeqs, el, shortId, stateLabel } from "../ui.js";

export function mount(section) {
  const strip = $(section, "strip");
  const buttons = { start: $(section, "start"), cut: $(section, "cut"), reopen: $(section, "reopen") };
  let radio = null;

  async function showConnections(key) {
    const log = await (await fetch(`/playground/api/radio/log?key=${key}`, { cache: "no-store" })).json();
    const list = $(section, "connections");
    list.replaceChildren();
    for (const c of log.connections) {
      const text = c.last_event_id_header
        ? t("p7.conn_header", { n: c.connection, id: c.last_event_id_header })
        : c.last_event_id_query
          ? t("p7.conn_query", { n: c.connection, id: c.last_event_id_query })
          : t("p7.conn_fresh", { n: c.connection });
      addLog(list, text, c.connection === 1 ? "" : "good");
    }
    section.dataset.connections = String(log.count);
    section.dataset.headerResumes = String(log.connections.filter((c) => c.last_event_id_header).length);
  }

  buttons.start.onclick = async () => {
    radio?.source?.close();
    const steps = Number($(section, "steps").value) || 20;
    const stepSeconds = Number($(section, "step-seconds").value) || 1;
    const id = await submitJob("slow_task", { steps, step_seconds: stepSeconds });
    const key = `radio-${Date.now()}`;
    const received = [];  // {seq, connection}
    let connection = 0;
    strip.replaceChildren();
    Object.assign(section.dataset, { job: id, key, verdict: "", received: "0", auto: "0", manual: "0" });
    $(section, "connections").replaceChildren();
    setText($(section, "verdict"), "p7.listening", { id: shortId(id) });

    radio = new Radio(`/playground/api/radio/tasks/${id}/stream?key=${key}`, {
      onEvent(event) {
        received.push({ seq: event.seq, connection });
        const box = el("span", { className: `seq c${(connection - 1) % 4}`, textContent: String(event.seq), title: `${event.event} · #${connection}` });
        if (received.filter((r) => r.seq === event.seq).length > 1) box.classList.add("dup");
        strip.append(box);
        section.dataset.received = String(received.length);
        $(section, "received").textContent = String(received.length);
      },
      onStatus(status) {
        if (status === "open") {
          connection += 1;
          showConnections(key);
        }
        if (status === "reconnecting") section.dataset.auto = String(Number(section.dataset.auto) + 1);
        section.dataset.state = status;
        setText($(section, "state"), `p7.state_${status}`, { n: connection });
        buttons.cut.disabled = status !== "open";
        buttons.reopen.disabled = status !== "open";
      },
      async onEnd(end) {
        buttons.cut.disabled = buttons.reopen.disabled = true;
        // compare with the server's own record of the job's events
        const view = await (await fetch(`/tasks/${id}`, { cache: "no-store" })).json();
        const check = checkSeqs(received.map((r) => r.seq));
        const complete = check.ok && check.top === view.events.length && received.length === view.events.length;
        for (const seq of check.gaps) strip.append(el("span", { className: "seq gap", textContent: `?${seq}` }));
        Object.assign(section.dataset, { verdict: complete ? "ok" : "bad", expected: String(view.events.length), endState: end.state });
        const vars = { n: received.length, total: view.events.length, dups: check.duplicates.join(",") || "–", gaps: check.gaps.join(",") || "–", state: stateLabel(end.state) };
        setText($(section, "verdict"), complete ? "p7.verdict_ok" : "p7.verdict_bad", vars, complete ? "good" : "bad");
        showConnections(key);
      },
    });
    radio.tuneIn();
  };

  // The server ends the response between two messages; the browser reconnects by itself.
  buttons.cut.onclick = () => fetch(`/playground/api/radio/cut?key=${section.dataset.key}`, { method: "POST" });

  // By hand: close this EventSource, open a new one that says where it stopped.
  buttons.reopen.onclick = () => {
    section.dataset.manual = String(Number(section.dataset.manual) + 1);
    radio.reopen();
  };
}
