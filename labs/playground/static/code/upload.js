// 类比5: progress = XHR upload progress = a download bar (下载进度条). Two stages, two bars.
import { followJob } from "./lab-api.js";

// Stage 1: the browser sends the file; xhr.upload.onprogress counts the bytes that left.
export function uploadWithProgress(file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("files", file);
    const xhr = new XMLHttpRequest();
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    };
    xhr.onload = () => {
      const body = JSON.parse(xhr.responseText);
      if (xhr.status === 201) resolve(body);  // {documents: [...], jobs: [{id, ...}]}
      else reject(new Error(body.detail ?? `HTTP ${xhr.status}`));
    };
    xhr.onerror = () => reject(new Error("network error"));
    xhr.open("POST", "/documents?process=true");  // process=true: a job per PDF
    xhr.send(form);
  });
}

// Stage 2: a worker processes the PDF; the job reports progress(done, total, message).
export function followProgress(jobId, onProgress) {
  return followJob(jobId, (event) => {
    if (event.progress) onProgress(event.progress);  // {done, total, percent, message}
  });
}
