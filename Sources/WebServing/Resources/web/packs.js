// Resource pack pages (资源包): the list, and one pack — a maker's editor (targets, items, clips,
// attachments, publish) or a member school's view (notes, players, downloads).
"use strict";

function formatBytes(bytes) {
  if (bytes == null) return "";
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return value.toFixed(unit ? 1 : 0) + " " + units[unit];
}

Object.assign(pages, {
  async packs() {
    await showSignedIn();
    const me = await api.get("/api/v1/me");
    const list = document.querySelector("#packs");
    const packs = await api.get("/api/v1/packs");
    list.replaceChildren();
    for (const pack of packs.items) {
      list.append(el("li", {},
        el("a", { href: "/packs/" + pack.id }, pack.title), " ",
        el("span", { class: "state " + (pack.latestVersion ? "ready" : "queued") }, pack.latestVersion ? "第" + pack.latestVersion + "版" : "草稿"),
        el("div", { class: "meta" }, [pack.leadSchool, pack.publishedAt ? "发布于 " + pack.publishedAt.slice(0, 10) : "", formatBytes(pack.totalSize)].filter(Boolean).join(" · "))));
    }
    if (packs.items.length === 0) list.append(el("li", { class: "muted" }, "还没有资源包"));
    const form = document.querySelector("#new-pack");
    if (!["teacher", "coordinator", "admin"].includes(me.role)) return;
    form.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const created = await api.request("POST", "/api/v1/packs", { title: document.getElementById("pack-title").value });
        location.href = "/packs/" + created.id;
      } catch (error) { showError(error); }
    });
  },

  async pack() {
    await showSignedIn();
    const id = location.pathname.split("/").pop();
    const box = document.querySelector("#pack");
    let pack;
    try {
      pack = await api.get("/api/v1/packs/" + encodeURIComponent(id));
    } catch (error) {
      box.replaceChildren(el("p", { class: "error" }, error.status === 403 || error.status === 404 ? "没有这个资源包，或它不是发给您学校的。" : error.message));
      return;
    }
    document.title = pack.versions[0].title + " · LessonLink";
    if (pack.access === "maker") await editor(pack); else reader(pack);

    function reader(pack) {
      const version = pack.versions[0];
      const base = `/api/v1/packs/${pack.id}/versions/${version.number}`;
      const items = el("ol", { class: "items" });
      for (const [index, item] of version.items.entries()) {
        // Files are numbered by place in the version, as the publisher wrote them.
        const number = String(index + 1).padStart(2, "0");
        const li = el("li", { class: "item" }, el("h2", {}, item.title));
        if (item.kind === "recording") {
          li.append(el("p", { class: "muted" }, `来源：${item.sourceSchool} ${item.sourceTeacher}《${item.sourceTitle}》` +
            (item.clipStart != null || item.clipEnd != null ? ` · 片段 ${item.clipStart ?? 0} – ${item.clipEnd ?? "结束"} 秒` : "")));
          if (item.note) li.append(el("p", { class: "note" }, item.note));
          li.append(el("video", { controls: "", playsinline: "", preload: "metadata", "data-master": `${base}/files/items/${number}/master.m3u8` }));
        } else {
          if (item.note) li.append(el("p", { class: "note" }, item.note));
          li.append(el("p", {}, el("a", { href: `${base}/files/attachments/${number}-${encodeURIComponent(item.fileName)}`, download: item.fileName }, item.fileName),
            " ", el("span", { class: "muted" }, formatBytes(item.size))));
        }
        items.append(li);
      }
      box.replaceChildren(
        el("h1", {}, version.title),
        el("p", { class: "muted" }, `${pack.leadSchool} · 第${version.number}版 · 发布于 ${(version.publishedAt || "").slice(0, 10)} · ${formatBytes(version.totalSize)}`),
        el("p", {}, version.description),
        version.notes ? el("div", {}, el("h2", {}, "教学建议"), el("p", { class: "notes" }, version.notes)) : "",
        el("p", {}, el("a", { id: "download", class: "button", href: `${base}/zip`, download: "" }, "下载整个资源包（ZIP）"), " ",
          el("a", { href: `${base}/manifest` }, "清单（manifest.json）")),
        items,
        pack.versions.length > 1 ? el("p", { class: "muted" }, "早期版本：", ...pack.versions.slice(1).filter((v) => v.downloadable).map((v) =>
          el("a", { href: `/api/v1/packs/${pack.id}/versions/${v.number}/zip` }, ` 第${v.number}版`))) : "");
      window.startPackPlayers(box);
    }

    async function editor(pack) {
      const draft = pack.versions.find((v) => v.state === "draft");
      const latest = pack.versions.find((v) => v.state === "published");
      const current = draft || latest;
      const schools = (await api.get("/api/v1/schools")).items;
      const lead = schools.find((s) => s.id === pack.leadSchoolId);
      const members = schools.filter((s) => s.kind === "member" && lead && s.districtId === lead.districtId);
      const targeted = new Set(current.targets.map((t) => t.schoolId));
      const form = el("form", { id: "pack-form", class: "panel" },
        el("label", { for: "title" }, "标题"), el("input", { id: "title", name: "title", maxlength: "200" }),
        el("label", { for: "description" }, "说明"), el("textarea", { id: "description", name: "description", rows: "2" }),
        el("label", { for: "notes" }, "教学建议（本校适用的重点、进度、线下活动）"), el("textarea", { id: "notes", name: "notes", rows: "4" }),
        el("fieldset", { id: "targets" }, el("legend", {}, "发给哪些成员校"), ...members.map((s) =>
          el("label", { class: "check" }, el("input", { type: "checkbox", name: "target", value: s.id, ...(targeted.has(s.id) ? { checked: "" } : {}) }), " " + s.name))),
        el("p", {}, el("button", { type: "submit" }, "保存草稿")));
      // form.title would be the form's own title attribute, not the input named "title".
      const field = (name) => form.querySelector(`[name=${name}]`);
      field("title").value = current.title;
      field("description").value = current.description;
      field("notes").value = current.notes;
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          await api.request("PATCH", "/api/v1/packs/" + pack.id, {
            title: field("title").value, description: field("description").value, notes: field("notes").value,
            targets: [...form.querySelectorAll("input[name=target]:checked")].map((box) => ({ schoolId: Number(box.value) })),
          });
          location.reload();
        } catch (error) { showError(error); }
      });

      const items = el("ol", { id: "items", class: "items" });
      for (const item of current.items) {
        const remove = el("button", { type: "button", class: "secondary" }, "移除");
        remove.addEventListener("click", async () => {
          try { await api.request("DELETE", `/api/v1/packs/${pack.id}/items/${item.id}`); location.reload(); } catch (error) { showError(error); }
        });
        items.append(el("li", {}, item.title, " ", el("span", { class: "muted" }, item.kind === "recording"
          ? `课例 #${item.recordingId}` + (item.clipStart != null || item.clipEnd != null ? ` 片段 ${item.clipStart ?? 0}–${item.clipEnd ?? "结束"} 秒` : "")
          : `附件 ${item.fileName} · ${formatBytes(item.size)}`), " ", draft ? remove : ""));
      }

      const recordings = (await api.get("/api/v1/recordings?state=ready")).items;
      const add = el("form", { id: "add-recording", class: "panel" },
        el("h2", {}, "加入课例"),
        el("label", { for: "recording" }, "课例"), el("select", { id: "recording", name: "recording" },
          ...recordings.map((r) => el("option", { value: r.id }, `${r.title}（${r.school.name} ${r.teacher.name}）`))),
        el("label", { for: "clipStart" }, "片段起点（秒，可不填）"), el("input", { id: "clipStart", name: "clipStart", type: "number", min: "0", step: "0.1" }),
        el("label", { for: "clipEnd" }, "片段终点（秒，可不填）"), el("input", { id: "clipEnd", name: "clipEnd", type: "number", min: "0", step: "0.1" }),
        el("label", { for: "note" }, "给成员校的说明"), el("input", { id: "note", name: "note" }),
        el("p", {}, el("button", { type: "submit" }, "加入")));
      add.addEventListener("submit", async (event) => {
        event.preventDefault();
        const body = { recordingId: Number(add.recording.value), note: add.note.value };
        if (add.clipStart.value) body.clipStart = Number(add.clipStart.value);
        if (add.clipEnd.value) body.clipEnd = Number(add.clipEnd.value);
        try { await api.request("POST", `/api/v1/packs/${pack.id}/items`, body); location.reload(); } catch (error) { showError(error); }
      });

      const attach = el("form", { id: "add-attachment", class: "panel" },
        el("h2", {}, "加入附件（教案、练习、课件、字幕）"),
        el("input", { type: "file", id: "attachment", name: "attachment" }),
        el("p", {}, el("button", { type: "submit" }, "上传")));
      attach.addEventListener("submit", async (event) => {
        event.preventDefault();
        const file = attach.attachment.files[0];
        if (!file) return;
        const response = await fetch(`/api/v1/packs/${pack.id}/attachments?name=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
        if (!response.ok) { showError(await api.error(response)); return; }
        location.reload();
      });

      const publish = el("button", { type: "button", id: "publish" }, "发布新版本");
      const status = el("span", { id: "publish-status", class: "muted" });
      const bar = el("progress", { id: "publish-progress", value: "0", max: "1", hidden: "" });
      publish.addEventListener("click", async () => {
        publish.disabled = true;
        status.textContent = "正在发布…";
        try {
          // In the background (RFC 7240 respond-async): a pack of long lessons takes a while to
          // hash and link, and the page follows it over Server-Sent Events.
          const response = await fetch(`/api/v1/packs/${pack.id}/publish`, { method: "POST", headers: { Prefer: "respond-async" } });
          if (!response.ok) throw await api.error(response);
          bar.hidden = false;
          const events = new EventSource(`/api/v1/packs/${pack.id}/publish/events`);
          events.addEventListener("publish", (event) => {
            const progress = JSON.parse(event.data);
            bar.value = progress.items ? progress.itemsDone / progress.items : 0;
            if (progress.state === "published") {
              events.close();
              status.textContent = `已发布第${progress.version}版`;
              setTimeout(() => location.reload(), 800);
            } else if (progress.state === "failed") {
              events.close();
              bar.hidden = true;
              status.textContent = "";
              publish.disabled = false;
              showError(new Error(progress.error));
            } else {
              status.textContent = `正在发布：${progress.itemsDone} / ${progress.items} 项`;
            }
          });
          events.onerror = () => { /* EventSource reconnects by itself */ };
        } catch (error) {
          status.textContent = "";
          publish.disabled = false;
          showError(error);
        }
      });

      box.replaceChildren(
        el("h1", {}, current.title),
        el("p", { class: "muted" }, `${pack.leadSchool} · ` + (draft ? `草稿（第${draft.number}版）` : `第${latest.number}版已发布；修改会开始新版本`)
          + (latest ? ` · 最新发布：第${latest.number}版` : "")),
        form, el("h2", {}, "内容"), items,
        current.items.length === 0 ? el("p", { class: "muted" }, "还没有内容") : "",
        add, attach, el("p", {}, draft ? publish : "", " ", status, " ", bar),
        latest ? el("p", {}, el("a", { href: `/api/v1/packs/${pack.id}/versions/${latest.number}/zip` }, `下载第${latest.number}版（ZIP）`)) : "");
    }
  },
});
