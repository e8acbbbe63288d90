// Panel 8 · scenario 1's search, for why it needs a real model: the sample queries (and yours) through the
// hashing embedder and the model side by side, with the rank of the right handbook under each.
import { compareEmbedders, firsts } from "../code/search-compare.js";
import { setText } from "../i18n.js";
import { $, el } from "../ui.js";

const EMBEDDERS = ["hashing", "model"];

function rankCell(result, handbook) {
  const cell = el("td");
  cell.dataset.rank = result.rank ?? "";
  if (result.top === null) setText(cell, "p8.no_match", {}, "bad");
  else if (handbook === null) setText(cell, "p8.rank_none", { top: result.top });
  else if (result.rank === 1) setText(cell, "p8.rank_first", {}, "good");
  else setText(cell, "p8.rank_other", { rank: result.rank, top: result.top }, result.rank > 3 ? "bad" : "");
  return cell;
}

function row(answer, own = false) {
  const kind = el("td");
  setText(kind, `p8.kind_${own ? "own" : answer.kind}`);
  const tr = el("tr", {}, kind, el("td", { textContent: answer.query }), el("td", { textContent: answer.handbook ?? "–" }));
  for (const name of EMBEDDERS) tr.append(rankCell(answer[name], answer.handbook));
  tr.dataset.kind = own ? "own" : answer.kind;
  tr.dataset.hashingRank = answer.hashing.rank ?? "";
  tr.dataset.modelRank = answer.model.rank ?? "";
  return tr;
}

export function mount(section) {
  const rows = $(section, "rows");
  const status = $(section, "status");
  const bar = $(section, "bar");
  const form = $(section, "own");
  const pick = $(section, "handbook");
  const run = $(section, "run");

  const onProgress = ({ done, total }) => {
    section.dataset.state = "indexing";
    section.dataset.polls = String(Number(section.dataset.polls ?? 0) + 1);
    bar.max = total;
    bar.value = done;
    setText(status, "p8.indexing", { done, total });
  };

  const ask = async (params) => {
    try {
      const answer = await compareEmbedders(params, onProgress);
      bar.value = bar.max;
      setText(status, "p8.embedders", { hashing: answer.embedders.hashing.name, model: answer.embedders.model.name });
      if (pick.options.length <= 1) {
        for (const book of answer.handbooks) pick.append(el("option", { value: book.slug, textContent: book.slug }));
      }
      return answer;
    } catch (error) {
      section.dataset.state = "error";
      setText(status, "playground.error", { error: error.message }, "bad");
      return null;
    }
  };

  run.onclick = async () => {
    run.disabled = true;
    section.dataset.state = "asking";
    const answer = await ask({});
    if (answer) {
      rows.replaceChildren(...answer.rows.map((a) => row(a)));
      const count = (kind) => answer.rows.filter((r) => r.kind === kind).length;
      const found = Object.fromEntries(EMBEDDERS.map((e) => [e, firsts(answer.rows, "paraphrase", e)]));
      setText($(section, "summary"), "p8.summary", {
        hashing: found.hashing, model: found.model, n: count("paraphrase"),
        hashing_zh: firsts(answer.rows, "chinese", "hashing"), model_zh: firsts(answer.rows, "chinese", "model"), n_zh: count("chinese"),
      }, found.model > found.hashing ? "good" : "");
      section.dataset.hashingFirst = String(found.hashing);
      section.dataset.modelFirst = String(found.model);
      section.dataset.state = "ready";
      form.querySelector("button").disabled = false;
    }
    run.disabled = false;
  };

  form.onsubmit = async (event) => {
    event.preventDefault();
    const q = form.elements.q.value.trim();
    if (!q) return;
    const answer = await ask(pick.value ? { q, handbook: pick.value } : { q });
    if (answer) {
      rows.append(row(answer.rows[0], true));
      section.dataset.own = String(Number(section.dataset.own ?? 0) + 1);
    }
  };
}
