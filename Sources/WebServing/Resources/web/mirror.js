// Pack pages (a school's mirror, and the county server's pack page): one LessonPlayer per
// <video data-master>, with a tier menu next to it.
"use strict";

function startPackPlayers(root = document) {
  for (const video of root.querySelectorAll("video[data-master]")) {
    if (video.dataset.started) continue;
    video.dataset.started = "1";
    const menu = document.createElement("select");
    menu.setAttribute("aria-label", "清晰度");
    menu.className = "tier";
    menu.append(new Option("自动", "auto"));
    const status = document.createElement("span");
    status.className = "muted playing";
    video.after(menu, " ", status);
    const player = new window.LessonPlayer(video, video.dataset.master, {
      forceMSE: new URLSearchParams(location.search).get("player") === "mse",
      onChange: (p) => { status.textContent = (p.mode === "mse" ? "MSE" : "HLS") + " · " + p.currentTier(); },
    });
    player.start().then(() => {
      for (const variant of player.variants) menu.append(new Option(variant.name, variant.name));
      menu.addEventListener("change", () => player.select(menu.value));
    }).catch((error) => { status.textContent = "无法播放：" + error.message; });
    (window.packPlayers = window.packPlayers || []).push(player);
  }
}

window.startPackPlayers = startPackPlayers;
if (document.body && document.body.dataset.page === "mirror") startPackPlayers();
