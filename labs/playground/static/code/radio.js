// 类比3: SSE = a radio (广播电台): the server talks, the browser only listens.
// EventSource reconnects by itself when the signal drops, and sends the id of the
// last event it heard in the Last-Event-ID header: the server resumes after it.
import { EVENT_TYPES } from "./lab-api.js";

export class Radio {
  constructor(url, { onEvent, onStatus, onEnd }) {
    Object.assign(this, { url, onEvent, onStatus, onEnd });
    this.lastId = null;
  }

  tuneIn(url = this.url) {
    const source = (this.source = new EventSource(url));  // 打开收音机
    source.onopen = () => this.onStatus("open");
    source.onerror = () => {
      // CONNECTING: the browser is already reconnecting by itself (信号中断 → 自动重连)
      this.onStatus(source.readyState === EventSource.CONNECTING ? "reconnecting" : "closed");
    };
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message) => {
        this.lastId = message.lastEventId;  // what the browser will send as Last-Event-ID
        this.onEvent(JSON.parse(message.data), message.lastEventId);
      });
    }
    source.addEventListener("end", (message) => {
      source.close();  // the job is over: no more reconnecting
      this.onStatus("closed");
      this.onEnd(JSON.parse(message.data));
    });
  }

  // 换台再换回来: close and open a new EventSource by hand. A new EventSource starts
  // from scratch and a page cannot set Last-Event-ID itself, so say it in the URL.
  reopen() {
    this.source.close();
    const join = this.url.includes("?") ? "&" : "?";
    this.tuneIn(`${this.url}${join}last_event_id=${encodeURIComponent(this.lastId ?? "")}`);
  }
}
