// Orders (学校点单、学区派单、领衔校接单、平台评单): the inbox with its live updates, the order
// form, one order with the steps its reader may take, and the county view with its charts.
"use strict";

const orderStates = { placed: "待派单", dispatched: "待接单", accepted: "制作中", delivered: "待评价", rated: "已评价",
  declined: "被婉拒", rework: "返工中", cancelled: "已取消" };
const orderFormats = { lessons: "整节课例", pack: "资源包（含本校化说明）", session: "同步课堂" };

function orderBadge(order) {
  const parts = [el("span", { class: "state order-" + order.state, "data-state": order.state }, orderStates[order.state] || order.state)];
  if (order.overdue) parts.push(" ", el("span", { class: "state overdue" }, "逾期"));
  return parts;
}

function orderWhat(order) {
  if (order.volume) return order.volume.name + (order.lessons.length ? " · " + order.lessons.map((l) => l.name).join("、") : "");
  return "专题：" + order.topic;
}

function orderItem(order) {
  return el("li", { class: "order" + (order.needsMe ? " needs-me" : ""), "data-id": order.id, "data-state": order.state },
    el("p", {}, el("a", { href: "/orders/" + order.id }, orderWhat(order)), " ", ...orderBadge(order)),
    el("p", { class: "meta" }, order.school.name + " · " + order.grade + " 年级 " + order.classes + " 个班 · " + (orderFormats[order.format] || order.format) +
      " · 需要日期 " + order.neededBy + (order.leadSchool ? " · 领衔校 " + order.leadSchool.name : "") + (order.dueOn ? " · 交付期限 " + order.dueOn : "")),
    // What the school said of the delivery: the lead school's teachers see it in their inbox.
    order.rating ? el("p", { class: "rating" }, "评价：适配度 " + order.rating.fit + " · 质量 " + order.rating.quality + " · 及时 " +
      order.rating.timeliness + (order.rating.comment ? " · " + order.rating.comment : "")) : "");
}

Object.assign(pages, {
  async orders() {
    const me = await showSignedIn();
    const list = document.querySelector("#orders");
    const todo = document.querySelector("#todo-count");
    const filter = document.querySelector("#order-filter");
    async function load() {
      const query = new URLSearchParams();
      if (filter.state.value) query.set("state", filter.state.value);
      if (filter.todo.checked) query.set("todo", "true");
      const inbox = await api.get("/api/v1/orders?" + query);
      todo.textContent = inbox.todo;
      list.replaceChildren(...(inbox.items.length ? inbox.items.map(orderItem) : [el("li", { class: "muted" }, "没有点单。")]));
    }
    for (const [value, name] of Object.entries(orderStates)) filter.state.append(el("option", { value }, name));
    filter.addEventListener("change", () => load().catch(showError));
    await load();
    // A new or changed order appears at once: the server says so over Server-Sent Events.
    const events = new EventSource("/api/v1/orders/events");
    events.addEventListener("inbox", (message) => { todo.textContent = JSON.parse(message.data).todo; });
    events.addEventListener("order", () => load().catch(showError));
    if (me && me.role === "teacher") await orderForm(me);
  },

  async order() {
    const me = await showSignedIn();
    const id = location.pathname.split("/").pop();
    const box = document.querySelector("#order");
    async function render() {
      const order = await api.get("/api/v1/orders/" + id);
      document.title = "点单 " + order.id + " · LessonLink";
      const parts = [
        el("h1", {}, orderWhat(order)), el("p", { id: "order-state" }, ...orderBadge(order)),
        el("dl", { class: "facts" },
          el("dt", {}, "学校"), el("dd", {}, order.school.name + "（" + order.placedBy.name + "）"),
          el("dt", {}, "年级、班数"), el("dd", {}, order.grade + " 年级，" + order.classes + " 个班"),
          el("dt", {}, "学情"), el("dd", {}, order.pupils || "—"),
          el("dt", {}, "形式"), el("dd", {}, orderFormats[order.format] || order.format),
          el("dt", {}, "需要日期"), el("dd", {}, order.neededBy),
          el("dt", {}, "领衔校"), el("dd", {}, order.leadSchool ? order.leadSchool.name + "（期限 " + order.dueOn + "）" : "—"),
          el("dt", {}, "负责教师"), el("dd", {}, order.responsibleTeacher ? order.responsibleTeacher.name : "—"),
          el("dt", {}, "评价"), el("dd", { id: "rating" }, order.rating ? "适配度 " + order.rating.fit + " · 质量 " + order.rating.quality +
            " · 及时 " + order.rating.timeliness + (order.rating.comment ? " · " + order.rating.comment : "") : "—")),
      ];
      if (order.deliveries.length) {
        parts.push(el("h2", {}, "交付"), el("ul", { id: "deliveries" }, ...order.deliveries.map((d) => el("li", {},
          d.packId ? el("a", { href: "/packs/" + d.packId }, d.title + "（第 " + d.packVersion + " 版）") : el("a", { href: "/recordings/" + d.recordingId }, d.title)))));
      }
      if (order.attachments.length) {
        parts.push(el("h2", {}, "附件"), el("ul", {}, ...order.attachments.map((a) =>
          el("li", {}, el("a", { href: "/api/v1/orders/" + id + "/attachments/" + a.id }, a.name)))));
      }
      parts.push(el("div", { id: "actions" }));
      parts.push(el("h2", {}, "经过"), el("ol", { class: "history", id: "order-history" }, ...order.history.map((step) => el("li", {},
        new Date(step.at).toLocaleString("zh-CN") + " " + step.person.name + "：" + (orderStates[step.to] || step.to) + (step.reason ? "（" + step.reason + "）" : "")))));
      box.replaceChildren(...parts);
      await orderActions(order, me, box.querySelector("#actions"), render);
    }
    await render();
  },

  async ordersCounty() {
    await showSignedIn();
    const box = document.querySelector("#county");
    const report = await api.get("/api/v1/orders/stats");
    const hours = (h) => (h == null ? "—" : h < 48 ? h.toFixed(1) + " 小时" : (h / 24).toFixed(1) + " 天");
    const table = (rows, head, cells) => el("table", { class: "matrix" }, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
      el("tbody", {}, ...rows.map((row) => el("tr", {}, ...cells(row).map((c) => el("td", {}, c))))));
    box.replaceChildren(
      el("h1", {}, "全县点单情况"),
      el("p", { id: "totals" }, "共 " + report.orders + " 单，进行中 " + report.open + "，逾期 " + report.overdue + "，已交付 " + report.delivered + "，已评价 " + report.rated + "。 ",
        el("a", { href: "/api/v1/orders/stats?format=csv", id: "csv" }, "导出 CSV（Excel）")),
      el("h2", {}, "各学区周转（下单 → 交付）"), barChart(report.byDistrict.map((g) => [g.name, g.medianHours || 0, hours(g.medianHours)])),
      table(report.byDistrict, ["学区", "点单", "已交付", "逾期", "中位数", "90% 分位"],
        (g) => [g.name, g.orders, g.delivered, g.overdue, hours(g.medianHours), hours(g.p90Hours)]),
      el("h2", {}, "各领衔校"),
      table(report.byLeadSchool, ["领衔校", "接单", "已交付", "逾期", "中位数", "90% 分位"],
        (g) => [g.name, g.orders, g.delivered, g.overdue, hours(g.medianHours), hours(g.p90Hours)]),
      el("h2", {}, "评价（领衔校）"),
      table(report.ratingsByLeadSchool, ["领衔校", "评价数", "适配度", "质量", "及时"], (r) => [r.name, r.rated, r.fit, r.quality, r.timeliness]),
      el("h2", {}, "评价（教师）"),
      table(report.ratingsByTeacher, ["教师", "学校", "评价数", "适配度", "质量", "及时"], (r) => [r.name, r.school || "", r.rated, r.fit, r.quality, r.timeliness]),
      el("h2", {}, "需求（学科 × 年级）"), barChart(report.demand.map((d) => [d.subject + " " + d.grade + "年级", d.ordered, d.delivered + "/" + d.ordered + " 已交付"])),
      table(report.demand, ["学科", "年级", "点单", "已交付", "未交付"], (d) => [d.subject, d.grade, d.ordered, d.delivered, d.notDelivered]));
  },
});

/** A horizontal bar chart as SVG: [label, value, caption] rows. */
function barChart(rows) {
  const ns = "http://www.w3.org/2000/svg";
  const max = Math.max(1, ...rows.map((r) => r[1]));
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 640 " + (rows.length * 28 + 8));
  rows.forEach(([label, value, caption], index) => {
    const y = 4 + index * 28;
    const text = (x, content, anchor) => {
      const node = document.createElementNS(ns, "text");
      node.setAttribute("x", x);
      node.setAttribute("y", y + 17);
      if (anchor) node.setAttribute("text-anchor", anchor);
      node.textContent = content;
      svg.append(node);
    };
    text(150, label, "end");
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", 160);
    bar.setAttribute("y", y + 4);
    bar.setAttribute("height", 18);
    bar.setAttribute("width", Math.max(1, (value / max) * 360));
    svg.append(bar);
    text(530, caption);
  });
  return svg;
}

/** The form a member school's teacher orders with. */
async function orderForm(me) {
  const form = document.querySelector("#new-order");
  form.hidden = false;
  const volumes = (await api.get("/api/v1/textbook-volumes")).items;
  for (const volume of volumes) form.volume.append(el("option", { value: volume.id }, volume.title));
  form.volume.addEventListener("change", async () => {
    const box = form.querySelector("#order-lessons");
    box.replaceChildren();
    if (!form.volume.value) return;
    const volume = await api.get("/api/v1/textbook-volumes/" + form.volume.value);
    form.grade.value = volume.grade;
    for (const lesson of volume.lessons) {
      box.append(el("label", { class: "check" }, el("input", { type: "checkbox", name: "lesson", value: lesson.id }), " " + lesson.title));
    }
  });
  const needed = new Date(Date.now() + 14 * 86400000);
  form.neededBy.value = needed.toISOString().slice(0, 10);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { grade: Number(form.grade.value), classes: Number(form.classes.value), pupils: form.pupils.value,
      format: form.format.value, neededBy: form.neededBy.value };
    if (form.volume.value) {
      body.volumeId = Number(form.volume.value);
      body.lessonIds = [...form.querySelectorAll("input[name=lesson]:checked")].map((box) => Number(box.value));
    } else {
      body.topic = form.topic.value;
    }
    try {
      const order = await api.request("POST", "/api/v1/orders", body);
      const file = form.attachment.files[0];
      if (file) {
        const response = await fetch("/api/v1/orders/" + order.id + "/attachments?name=" + encodeURIComponent(file.name),
          { method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file });
        if (!response.ok) throw await api.error(response);
      }
      location.href = "/orders/" + order.id;
    } catch (error) { showError(error); }
  });
}

/** The steps this person may take on the order now, as small forms. */
async function orderActions(order, me, box, refresh) {
  const step = (action, body) => api.request("POST", "/api/v1/orders/" + order.id + "/" + action, body).then(refresh).catch(showError);
  const forms = [];
  const form = (id, title, fields, submit) => {
    const node = el("form", { id, class: "panel action" }, el("h2", {}, title), ...fields, el("p", {}, el("button", { type: "submit" }, title)));
    node.addEventListener("submit", (event) => { event.preventDefault(); submit(node); });
    forms.push(node);
  };
  const reason = (name = "reason", label = "原因") => [el("label", { for: name }, label), el("input", { type: "text", id: name, name, maxlength: "2000" })];
  const isAdmin = me.role === "admin", isCoordinator = me.role === "coordinator" && me.districtId === order.districtId;
  const atOrderingSchool = me.role === "teacher" && me.schoolId === order.school.id;
  const atLeadSchool = me.role === "teacher" && order.leadSchool && me.schoolId === order.leadSchool.id;
  if ((isAdmin || isCoordinator) && ["placed", "declined"].includes(order.state)) {
    const schools = (await api.get("/api/v1/schools")).items.filter((s) => s.kind === "lead" && (isAdmin || s.districtId === order.districtId));
    const select = el("select", { id: "leadSchool", name: "leadSchool" }, ...schools.map((s) => el("option", { value: s.id }, s.name)));
    const due = el("input", { type: "date", id: "dueOn", name: "dueOn", value: order.neededBy });
    form("dispatch", "派单", [el("label", { for: "leadSchool" }, "领衔校"), select, el("label", { for: "dueOn" }, "交付期限"), due],
      (node) => step("dispatch", { leadSchoolId: Number(node.leadSchool.value), dueOn: node.dueOn.value }));
    const suggestions = await api.get("/api/v1/orders/" + order.id + "/suggestions");
    if (suggestions.recordings.length || suggestions.packs.length) {
      const boxes = [
        ...suggestions.packs.map((p) => el("label", { class: "check" }, el("input", { type: "checkbox", name: "pack", value: p.id + "/" + p.version }), " 资源包：" + p.title)),
        ...suggestions.recordings.map((r) => el("label", { class: "check" }, el("input", { type: "checkbox", name: "recording", value: r.id }), " 课例：" + r.title + "（" + r.school.name + "）")),
      ];
      form("fulfil", "直接从资源库交付", boxes, (node) => step("fulfil", {
        packs: [...node.querySelectorAll("input[name=pack]:checked")].map((b) => ({ packId: Number(b.value.split("/")[0]), version: Number(b.value.split("/")[1]) })),
        recordingIds: [...node.querySelectorAll("input[name=recording]:checked")].map((b) => Number(b.value)),
      }));
    }
  }
  if (atLeadSchool && order.state === "dispatched") {
    const teachers = (await api.get("/api/v1/people")).items.filter((p) => p.role === "teacher" && p.schoolId === me.schoolId);
    const select = el("select", { id: "responsible", name: "responsible" }, ...teachers.map((p) => el("option", { value: p.id }, p.displayName)));
    select.value = me.id;
    form("accept", "接单", [el("label", { for: "responsible" }, "负责教师"), select], (node) => step("accept", { responsibleTeacherId: Number(node.responsible.value) }));
    form("decline", "婉拒", reason(), (node) => step("decline", { reason: node.reason.value }));
  }
  if (order.responsibleTeacher && me.id === order.responsibleTeacher.id && ["accepted", "rework"].includes(order.state)) {
    const packs = (await api.get("/api/v1/packs")).items.filter((p) => p.latestVersion && p.access === "maker");
    const boxes = packs.map((p) => el("label", { class: "check" }, el("input", { type: "checkbox", name: "pack", value: p.id + "/" + p.latestVersion }), " " + p.title + "（第 " + p.latestVersion + " 版）"));
    form("deliver", "交付", [...boxes, el("label", { for: "recordingIds" }, "或课例编号（逗号分隔）"), el("input", { type: "text", id: "recordingIds", name: "recordingIds" })],
      (node) => step("deliver", {
        packs: [...node.querySelectorAll("input[name=pack]:checked")].map((b) => ({ packId: Number(b.value.split("/")[0]), version: Number(b.value.split("/")[1]) })),
        recordingIds: node.recordingIds.value.split(/[,，\s]+/).filter(Boolean).map(Number),
      }));
  }
  if (atOrderingSchool && order.state === "delivered") {
    const score = (name, label) => [el("label", { for: name }, label),
      el("select", { id: name, name }, ...[5, 4, 3, 2, 1].map((n) => el("option", { value: n }, n)))];
    form("rate", "评价", [...score("fit", "适配度（适合本校学生）"), ...score("quality", "质量"), ...score("timeliness", "及时"), ...reason("comment", "评语")],
      (node) => step("rate", { fit: Number(node.fit.value), quality: Number(node.quality.value), timeliness: Number(node.timeliness.value), comment: node.comment.value }));
    if (!order.reworkUsed) form("rework", "退回修改（仅一次）", reason("rework-reason"), (node) => step("rework", { reason: node["rework-reason"].value }));
  }
  if (atOrderingSchool && ["placed", "dispatched", "declined"].includes(order.state)) {
    form("cancel", "取消点单", reason("cancel-reason"), (node) => step("cancel", { reason: node["cancel-reason"].value }));
  }
  box.replaceChildren(...forms);
}
