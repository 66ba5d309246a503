import Hummingbird
import WebServing

/// The web pages: server-rendered shells (login, catalog search, upload, recording detail) whose
/// plain JavaScript (`/assets/app.js`, no build step) talks to the same JSON API as every other
/// client, signed in by the session cookie.
struct WebController {
    var endpoints: RouteCollection<AppRequestContext> {
        let routes = RouteCollection(context: AppRequestContext.self)
        routes.get("", use: { _, _ in Self.page("课例库", "catalog", Self.catalog) })
        routes.get("admin", use: { _, _ in Self.page("服务器", "admin", Self.admin) })
        routes.get("login", use: { _, _ in Self.page("登录", "login", Self.login, chrome: false) })
        routes.get("upload", use: { _, _ in Self.page("上传课例", "upload", Self.upload) })
        routes.get("recordings/:id", use: { _, _ in
            Self.page("课例", "recording", #"<section class="panel" id="recording">…</section>"#, scripts: ["/assets/player.js", "/assets/review.js"])
        })
        routes.get("reviews", use: { _, _ in Self.page("教研审核", "reviews", Self.queue, scripts: ["/assets/review.js"]) })
        routes.get("review/:id", use: { _, _ in
            Self.page("审核", "review", #"<section class="panel" id="review">…</section>"#, scripts: ["/assets/player.js", "/assets/review.js"])
        })
        routes.get("textbooks", use: { _, _ in
            Self.page("按教材浏览", "textbooks", #"<section class="panel" id="textbooks">…</section>"#, scripts: ["/assets/review.js"])
        })
        routes.get("textbooks/:id", use: { _, _ in
            Self.page("教材", "textbook", #"<section class="panel" id="textbook">…</section>"#, scripts: ["/assets/review.js"])
        })
        routes.get("coverage", use: { _, _ in
            Self.page("整册进度", "coverage", #"<section class="panel" id="coverage">…</section>"#, scripts: ["/assets/review.js"])
        })
        routes.get("packs", use: { _, _ in Self.page("资源包", "packs", Self.packs, scripts: ["/assets/packs.js"]) })
        routes.get("packs/:id", use: { _, _ in
            Self.page(
                "资源包", "pack", #"<section class="panel" id="pack">…</section>"#,
                scripts: ["/assets/player.js", "/assets/mirror.js", "/assets/packs.js"])
        })
        routes.get("sessions", use: { _, _ in Self.page("同步课堂", "sessions", Self.sessions, scripts: ["/assets/player.js", "/assets/sessions.js"]) })
        routes.get("sessions/:id", use: { _, _ in
            Self.page(
                "同步课堂", "session", #"<section class="panel" id="session">…</section>"#, scripts: ["/assets/player.js", "/assets/sessions.js"])
        })
        routes.get("classroom", use: { _, _ in
            WebPage.response(
                title: "同步课堂 · LessonLink", name: "classroom", header: "", body: Self.kiosk,
                scripts: ["/assets/app.js", "/assets/player.js", "/assets/sessions.js"])
        })
        routes.get("assets/sessions.js", use: { _, _ in WebAssets.sessionsJS })
        routes.get("assets/review.js", use: { _, _ in WebAssets.reviewJS })
        routes.get("assets/orders.js", use: { _, _ in WebAssets.ordersJS })
        routes.get("orders", use: { _, _ in Self.page("点单", "orders", Self.orders, scripts: ["/assets/orders.js"]) })
        routes.get("orders/county", use: { _, _ in
            Self.page("全县点单情况", "ordersCounty", #"<section class="panel" id="county">…</section>"#, scripts: ["/assets/orders.js"])
        })
        routes.get("orders/:id", use: { _, _ in
            Self.page("点单", "order", #"<section class="panel" id="order">…</section>"#, scripts: ["/assets/orders.js"])
        })
        routes.get("assets/packs.js", use: { _, _ in WebAssets.packsJS })
        routes.get("assets/mirror.js", use: { _, _ in WebAssets.mirrorJS })
        routes.get("assets/player.js", use: { _, _ in WebAssets.playerJS })
        routes.get("assets/app.js", use: { _, _ in WebAssets.appJS })
        routes.get("assets/style.css", use: { _, _ in WebAssets.styleCSS })
        return routes
    }

    static func page(_ title: String, _ name: String, _ body: String, chrome: Bool = true, scripts: [String] = []) -> Response {
        let header =
            chrome
            ? #"<header><a href="/"><strong>LessonLink</strong> 课例库</a>\#(navigation)<span class="who"></span></header>"#
            : #"<header><strong>LessonLink</strong></header>"#
        return WebPage.response(
            title: "\(title) · LessonLink", name: name, header: header, body: #"<p id="error" class="error"></p>"# + "\n" + body,
            scripts: ["/assets/app.js"] + scripts)
    }

    /// The header's links, each for the roles that can use its page: app.js shows a link once the
    /// signed-in person's role is known (a classroom screen, say, never sees 上传).
    static let navigation = [
        ("/upload", "上传", "teacher admin"),
        ("/textbooks", "按教材", "teacher coordinator reviewer admin"),
        ("/reviews", "教研审核", "reviewer"),
        ("/coverage", "整册进度", "teacher coordinator admin"),
        ("/orders", "点单", "teacher coordinator admin"),
        ("/orders/county", "全县点单", "admin"),
        ("/packs", "资源包", "teacher coordinator classroom admin"),
        ("/sessions", "同步课堂", "teacher coordinator admin"),
        ("/classroom", "课堂屏幕", "classroom"),
        ("/admin", "服务器", "admin"),
    ].map { #"<a href="\#($0.0)" data-roles="\#($0.2)" hidden>\#($0.1)</a>"# }.joined()

    static let orders = """
        <section class="panel">
          <h1>点单 <span class="muted">待我处理：<strong id="todo-count">…</strong></span></h1>
          <form class="filters" id="order-filter">
            <div><label for="order-state">状态</label><select id="order-state" name="state"><option value="">全部</option></select></div>
            <div><label class="check"><input type="checkbox" id="order-todo" name="todo"> 只看待我处理的</label></div>
          </form>
          <ul class="results" id="orders"><li class="muted">…</li></ul>
        </section>
        <form class="panel" id="new-order" hidden>
          <h2>点单：本校需要的课</h2>
          <label for="volume">教材（或留空，填写专题）</label><select id="volume" name="volume"><option value="">（专题，不按教材）</option></select>
          <div id="order-lessons"></div>
          <label for="topic">专题</label><input type="text" id="topic" name="topic" maxlength="200" placeholder="例如：剪纸、书法入门">
          <label for="grade">年级</label><input type="number" id="grade" name="grade" min="1" max="12" value="3" required>
          <label for="classes">班数</label><input type="number" id="classes" name="classes" min="1" max="50" value="1" required>
          <label for="pupils">学情</label><textarea id="pupils" name="pupils" rows="2" maxlength="2000" placeholder="例如：没有专职英语老师，学生没接触过自然拼读"></textarea>
          <label for="format">形式</label><select id="format" name="format"><option value="pack">资源包（含本校化说明）</option><option value="lessons">整节课例</option><option value="session">同步课堂</option></select>
          <label for="neededBy">需要日期</label><input type="date" id="neededBy" name="neededBy" required>
          <label for="attachment">附件（课表照片、练习单）</label><input type="file" id="attachment" name="attachment">
          <p><button type="submit">点单</button></p>
        </form>
        """

    /// The county admin's view of the server: disk and backups, transcoding runners and the queue.
    static let admin = """
        <section class="panel">
          <h1>服务器</h1>
          <p id="server-status" class="muted">…</p>
        </section>
        <section class="panel">
          <h2>转码节点 <span class="muted" id="queue-drain"></span></h2>
          <table id="runners" class="matrix"><thead><tr><th>名称</th><th>最近联系</th><th>完成</th><th>失败</th><th>速度</th><th></th></tr></thead><tbody></tbody></table>
          <p><button type="button" id="new-runner-token">生成注册令牌</button> <code id="runner-token"></code></p>
          <p class="muted">在转码机上运行：<code>lessonlink runner --server 本服务器地址 --token 令牌</code></p>
        </section>
        """

    static let queue = """
        <section class="panel">
          <h1>教研审核</h1>
          <form class="filters" id="queue-filter">
            <div><label for="queue-subject">学科</label><select id="queue-subject" name="subject"><option value="">全部</option></select></div>
            <div><label for="queue-grade">年级</label><select id="queue-grade" name="grade"><option value="">全部</option></select></div>
          </form>
          <ul class="results" id="queue"><li class="muted">…</li></ul>
        </section>
        """

    static let packs = """
        <section class="panel">
          <h1>资源包</h1>
          <ul class="results" id="packs"><li class="muted">…</li></ul>
        </section>
        <form class="panel" id="new-pack" hidden>
          <h2>新建资源包</h2>
          <label for="pack-title">标题</label><input type="text" id="pack-title" name="pack-title" maxlength="200" required>
          <p><button type="submit">新建</button></p>
        </form>
        """

    static let sessions = """
        <section class="panel">
          <h1>同步课堂</h1>
          <label for="school-filter">学校</label><select id="school-filter"><option value="">全部</option></select>
          <h2>进行中</h2><ul class="results" id="sessions-running"><li class="muted">…</li></ul>
          <h2>即将开始</h2><ul class="results" id="sessions-upcoming"><li class="muted">…</li></ul>
          <h2>已结束</h2><ul class="results" id="sessions-past"><li class="muted">…</li></ul>
        </section>
        <form class="panel" id="schedule" hidden>
          <h2>安排同步课堂</h2>
          <label for="title">标题</label><input type="text" id="title" name="title" maxlength="200" required>
          <label for="recording">课例（已可播放）</label><select id="recording" name="recording" required></select>
          <label for="startsAt">开始时间</label><input type="datetime-local" id="startsAt" name="startsAt" required>
          <fieldset id="targets"><legend>参加的成员校（全部普通教室）</legend></fieldset>
          <label class="check"><input type="checkbox" id="memberTeachersHost" name="memberTeachersHost"> 成员校老师也可以主持（暂停、继续）</label>
          <p><button type="submit">安排</button></p>
          <p class="error"></p>
        </form>
        """

    /// The classroom screen: full screen, no navigation; everything happens by itself.
    static let kiosk = """
        <div id="kiosk-page">
          <div id="kiosk"></div>
          <div id="kiosk-overlay">
            <h1 id="kiosk-title">同步课堂</h1>
            <p id="kiosk-status">正在连接…</p>
            <p><button type="button" id="sound" hidden>开启声音</button> <button type="button" id="hand" class="secondary" hidden>举手</button></p>
            <form id="ask" hidden><input type="text" name="question" maxlength="500" placeholder="向主讲老师提问" aria-label="提问"> <button type="submit" class="secondary">提问</button></form>
          </div>
        </div>
        """

    static let login = """
        <form class="panel" id="login">
          <h1>登录</h1>
          <label for="username">用户名</label><input type="text" id="username" name="username" autocomplete="username" required>
          <label for="password">密码</label><input type="password" id="password" name="password" autocomplete="current-password" required>
          <p><button type="submit">登录</button></p>
          <p id="message" class="error"></p>
        </form>
        """

    static let catalog = """
        <form class="panel filters" id="search">
          <div><label for="q">搜索（课题、教师、学校、教材）</label><input type="search" id="q" name="q" placeholder="例如：秋天的雨"></div>
          <div><label for="subject">学科</label><select id="subject" name="subject"><option value="">全部</option></select></div>
          <div><label for="grade">年级</label><select id="grade" name="grade"><option value="">全部</option></select></div>
          <div><label for="sort">排序</label><select id="sort" name="sort"><option value="newest">最新</option><option value="oldest">最早</option><option value="title">课题</option></select></div>
          <div><button type="submit">搜索</button></div>
        </form>
        <ul class="results" id="results"></ul>
        <p><button type="button" class="secondary" id="more" hidden>更多</button></p>
        """

    static let upload = """
        <form class="panel" id="upload">
          <h1>上传课例</h1>
          <label for="file">录像文件</label><input type="file" id="file" name="file" accept="video/*,audio/*" required>
          <label for="title">课题</label><input type="text" id="title" name="title" maxlength="200">
          <label for="volume">教材</label><select id="volume" name="volume"><option value="">（不指定）</option></select>
          <label for="lesson">课</label><select id="lesson" name="lesson"><option value="">（不指定）</option></select>
          <label for="recordedOn">上课日期</label><input type="date" id="recordedOn" name="recordedOn">
          <label for="description">说明</label><textarea id="description" name="description" rows="3"></textarea>
          <p><button type="submit">开始上传</button> <button type="button" class="secondary" id="pause" hidden>暂停</button></p>
          <progress id="progress" value="0" max="1"></progress> <span id="percent"></span>
          <p id="status" class="muted"></p>
        </form>
        """
}
