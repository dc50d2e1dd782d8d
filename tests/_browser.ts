/**
 * Headless-browser test helper: Debian's `chromium`, driven over the Chrome
 * DevTools Protocol (CDP) on a local WebSocket.
 *
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { browserTest, decodePng, inkFraction } from "../_browser.ts";
 * browserTest("the report draws its charts", async ({ open, errors }) => {
 *   const page = await open(new URL("file:///tmp/run/report.html"));
 *   await page.waitFor("document.querySelectorAll('canvas').length > 0");
 *   const chart = await decodePng(await page.screenshot({ selector: "canvas" }));
 *   assert.ok(inkFraction(chart) > 0.01, "the chart is blank");
 *   await page.click("#feature-3");
 *   assert.deepEqual(errors, []);
 * });
 * ```
 *
 * Not playwright-core: it runs under Deno, but only with `--allow-all` (it
 * probes `/proc/sys/fs/binfmt_misc`, which Deno grants to nothing less). CDP
 * needs `--allow-run=/usr/bin/chromium`, `--allow-net=127.0.0.1` and read and
 * write access for a temporary profile, all of which `deno task test` grants.
 *
 * A test is registered as ignored, with one line on stderr saying why, when
 * chromium is not installed (`apt-get install -y chromium`; another binary
 * with `SAEKIT_CHROMIUM=/path`) or the process may not run it.
 *
 * Pages refuse requests that leave the machine (anything but `file:`, `data:`,
 * `blob:`, `about:` and `http(s)://127.0.0.1`/`localhost`) and record them in
 * `errors`, with console errors, failed loads and uncaught exceptions: a test
 * that ends with `assert.deepEqual(errors, [])` shows that the page works
 * offline and without errors.
 */

/** The chromium binary: `$SAEKIT_CHROMIUM`, or Debian's `/usr/bin/chromium`. */
export const CHROMIUM_PATH: string = (() => {
  try {
    return Deno.env.get("SAEKIT_CHROMIUM") ?? "/usr/bin/chromium";
  } catch {
    return "/usr/bin/chromium";
  }
})();

/** Why browser tests cannot run here, or `undefined` when they can. */
export const chromiumMissing: string | undefined = (() => {
  const run = Deno.permissions.querySync({ name: "run", command: CHROMIUM_PATH });
  if (run.state !== "granted") return `no permission to run ${CHROMIUM_PATH} (--allow-run=${CHROMIUM_PATH})`;
  const net = Deno.permissions.querySync({ name: "net", host: "127.0.0.1" });
  if (net.state !== "granted") return "no permission to connect to chromium (--allow-net=127.0.0.1)";
  try {
    if (!Deno.statSync(CHROMIUM_PATH).isFile) return `${CHROMIUM_PATH} is not a file`;
  } catch (error) {
    return error instanceof Deno.errors.NotFound
      ? `${CHROMIUM_PATH} not found (apt-get install -y chromium, or set SAEKIT_CHROMIUM)`
      : `cannot stat ${CHROMIUM_PATH} (${error instanceof Error ? error.message : error})`;
  }
  return undefined;
})();

/** A page opened by {@linkcode BrowserContext.open}. */
export type BrowserPage = {
  /** Sends a raw CDP command to this page (`"Page.reload"`, …) and resolves with its result. */
  send<T = Record<string, unknown>>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** Evaluates a JavaScript expression in the page (promises awaited) and returns its JSON value. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy; throws after `timeoutMs` (10 s by default). */
  waitFor(expression: string, timeoutMs?: number): Promise<void>;
  /** Navigates to a URL and waits for its `load` event. */
  goto(url: string | URL): Promise<void>;
  /** Scrolls the first element matching `selector` into view and clicks its centre with the mouse. */
  click(selector: string): Promise<void>;
  /** Scrolls the first element matching `selector` into view and moves the mouse to its centre. */
  hover(selector: string): Promise<void>;
  /**
   * A PNG of the viewport, or of the first element matching `selector`;
   * written to `path` as well when given.
   */
  screenshot(options?: { readonly selector?: string; readonly path?: string }): Promise<Uint8Array>;
};

/** What a {@linkcode browserTest} body receives. */
export type BrowserContext = {
  /** Opens a URL (`file:`, `http://127.0.0.1:…`) in a new page and waits for its `load` event. */
  open(url: string | URL, options?: OpenOptions): Promise<BrowserPage>;
  /** Console errors, uncaught exceptions, failed and refused requests of every opened page, in order. */
  readonly errors: string[];
};

/** Options of {@linkcode BrowserContext.open}. */
export type OpenOptions = {
  /** Viewport width in CSS pixels; 1280 by default. */
  readonly width?: number;
  /** Viewport height in CSS pixels; 900 by default. */
  readonly height?: number;
};

function allowedUrl(url: string): boolean {
  if (/^(file|data|blob|about|chrome|devtools):/.test(url)) return true;
  try {
    const { protocol, hostname } = new URL(url);
    return /^(http|https|ws):$/.test(protocol) &&
      (hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]");
  } catch {
    return false;
  }
}

type CdpMessage = {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
};

/** A CDP connection: commands by id, events to listeners. */
class Cdp {
  #next = 1;
  #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; method: string }>();
  #listeners: ((message: CdpMessage) => void)[] = [];
  #closed: Promise<void>;

  constructor(readonly socket: WebSocket) {
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data as string) as CdpMessage;
      if (message.id !== undefined) {
        const waiter = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(`${waiter.method}: ${message.error.message}`));
        else waiter?.resolve(message.result ?? {});
      } else for (const listener of this.#listeners) listener(message);
    };
    this.#closed = new Promise((resolve) => {
      socket.onclose = () => {
        for (const waiter of this.#pending.values()) {
          waiter.reject(new Error(`${waiter.method}: chromium closed`));
        }
        this.#pending.clear();
        resolve();
      };
    });
  }

  static async connect(url: string): Promise<Cdp> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = (event) => reject(new Error(`chromium: cannot connect to ${url} (${event.type})`));
    });
    return new Cdp(socket);
  }

  send<T>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.#next++;
    const result = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, method });
    });
    this.socket.send(JSON.stringify({ id, method, params, sessionId }));
    return result;
  }

  on(listener: (message: CdpMessage) => void): void {
    this.#listeners.push(listener);
  }

  /** Resolves with the first event that `match` accepts. */
  once(match: (message: CdpMessage) => boolean, timeoutMs: number, what: string): Promise<CdpMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners = this.#listeners.filter((l) => l !== listener);
        reject(new Error(`chromium: ${what} did not happen within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (message: CdpMessage) => {
        if (!match(message)) return;
        clearTimeout(timer);
        this.#listeners = this.#listeners.filter((l) => l !== listener);
        resolve(message);
      };
      this.#listeners.push(listener);
    });
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.#closed;
  }
}

async function readDevtoolsUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  const reader = stderr.getReader();
  const timeout = setTimeout(() => reader.cancel(), 30_000);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const match = text.match(/DevTools listening on (ws:\/\/\S+)/);
      if (match) {
        // Keep draining stderr so that chromium never blocks on a full pipe.
        (async () => {
          try {
            while (!(await reader.read()).done);
          } catch { /* chromium exited */ }
        })();
        return match[1];
      }
    }
  } finally {
    clearTimeout(timeout);
  }
  throw new Error(
    `chromium: expected "DevTools listening on ws://…" on stderr, received:\n${text.slice(-2000)}`,
  );
}

function remoteText(arg: { type?: string; value?: unknown; description?: string }): string {
  return arg.value !== undefined ? String(arg.value) : arg.description ?? arg.type ?? "?";
}

/**
 * Launches headless chromium, runs `fn`, and closes the browser, even when
 * `fn` throws. Prefer {@linkcode browserTest}, which also skips when chromium
 * is missing.
 */
export async function withBrowser<T>(fn: (context: BrowserContext) => Promise<T>): Promise<T> {
  if (chromiumMissing !== undefined) throw new Error(`chromium: ${chromiumMissing}`);
  const profile = await Deno.makeTempDir({ prefix: "saekit-chromium-" });
  const child = new Deno.Command(CHROMIUM_PATH, {
    args: [
      "--headless",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      // Root in CI containers cannot use chromium's sandbox; GPU-less machines draw in software.
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--hide-scrollbars",
      "--mute-audio",
      "--force-color-profile=srgb",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let cdp: Cdp | undefined;
  try {
    cdp = await Cdp.connect(await readDevtoolsUrl(child.stderr));
    const browser = cdp;
    const errors: string[] = [];
    const open = async (url: string | URL, options: OpenOptions = {}): Promise<BrowserPage> => {
      const { targetId } = await browser.send<{ targetId: string }>("Target.createTarget", {
        url: "about:blank",
      });
      const { sessionId } = await browser.send<{ sessionId: string }>("Target.attachToTarget", {
        targetId,
        flatten: true,
      });
      const send = <R>(method: string, params: Record<string, unknown> = {}) =>
        browser.send<R>(method, params, sessionId);
      browser.on((message) => {
        if (message.sessionId !== sessionId || message.params === undefined) return;
        const p = message.params as Record<string, unknown>;
        if (message.method === "Runtime.consoleAPICalled" && p.type === "error") {
          errors.push(`console: ${(p.args as { value?: unknown }[]).map(remoteText).join(" ")}`);
        } else if (message.method === "Runtime.exceptionThrown") {
          const details = p.exceptionDetails as { text: string; exception?: { description?: string } };
          errors.push(`uncaught: ${details.exception?.description ?? details.text}`);
        } else if (message.method === "Log.entryAdded") {
          const entry = p.entry as { level: string; text: string; url?: string };
          if (entry.level === "error") errors.push(`log: ${entry.text}${entry.url ? ` (${entry.url})` : ""}`);
        } else if (message.method === "Fetch.requestPaused") {
          const request = p.request as { url: string };
          if (allowedUrl(request.url)) {
            send("Fetch.continueRequest", { requestId: p.requestId }).catch(() => {});
          } else {
            errors.push(`external request refused: ${request.url}`);
            send("Fetch.failRequest", { requestId: p.requestId, errorReason: "BlockedByClient" }).catch(
              () => {},
            );
          }
        }
      });
      await Promise.all([
        send("Page.enable"),
        send("Runtime.enable"),
        send("Log.enable"),
        send("Fetch.enable", { patterns: [{ urlPattern: "*" }] }),
        send("Emulation.setDeviceMetricsOverride", {
          width: options.width ?? 1280,
          height: options.height ?? 900,
          deviceScaleFactor: 1,
          mobile: false,
        }),
      ]);
      const evaluate = async <R>(expression: string): Promise<R> => {
        const reply = await send<{
          result: { value?: R };
          exceptionDetails?: { text: string; exception?: { description?: string } };
        }>("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
        if (reply.exceptionDetails) {
          const d = reply.exceptionDetails;
          throw new Error(`evaluate(${JSON.stringify(expression)}): ${d.exception?.description ?? d.text}`);
        }
        return reply.result.value as R;
      };
      const box = async (selector: string) => {
        const rect = await evaluate<{ x: number; y: number; width: number; height: number } | null>(`(() => {
          const el = document.querySelector(${JSON.stringify(selector)});
          if (!el) return null;
          el.scrollIntoView({ block: "center", inline: "center" });
          const r = el.getBoundingClientRect();
          return { x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height };
        })()`);
        if (rect === null) {
          throw new Error(`selector ${JSON.stringify(selector)}: expected an element, found none`);
        }
        return rect;
      };
      /** The centre of an element in viewport coordinates, after scrolling it into view. */
      const centre = async (selector: string) => {
        const r = await box(selector);
        const { x, y } = await evaluate<{ x: number; y: number }>(`({ x: scrollX, y: scrollY })`);
        return { x: r.x - x + r.width / 2, y: r.y - y + r.height / 2 };
      };
      const page: BrowserPage = {
        send,
        evaluate,
        async waitFor(expression, timeoutMs = 10_000) {
          const deadline = Date.now() + timeoutMs;
          while (!(await evaluate<boolean>(`Boolean(${expression})`))) {
            if (Date.now() > deadline) {
              throw new Error(`waitFor(${JSON.stringify(expression)}): still false after ${timeoutMs} ms`);
            }
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        },
        async goto(target) {
          const loaded = browser.once(
            (m) => m.sessionId === sessionId && m.method === "Page.loadEventFired",
            30_000,
            `the load event of ${target}`,
          );
          const reply = await send<{ errorText?: string }>("Page.navigate", { url: String(target) });
          if (reply.errorText) throw new Error(`goto(${target}): ${reply.errorText}`);
          await loaded;
        },
        async click(selector) {
          const at = { ...(await centre(selector)), button: "left", clickCount: 1 };
          await send("Input.dispatchMouseEvent", { type: "mouseMoved", ...at });
          await send("Input.dispatchMouseEvent", { type: "mousePressed", ...at });
          await send("Input.dispatchMouseEvent", { type: "mouseReleased", ...at });
        },
        async hover(selector) {
          await send("Input.dispatchMouseEvent", { type: "mouseMoved", ...(await centre(selector)) });
        },
        async screenshot(options = {}) {
          const clip = options.selector === undefined
            ? undefined
            : { ...(await box(options.selector)), scale: 1 };
          const { data } = await send<{ data: string }>("Page.captureScreenshot", {
            format: "png",
            ...(clip ? { clip, captureBeyondViewport: true } : {}),
          });
          const png = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
          if (options.path !== undefined) await Deno.writeFile(options.path, png);
          return png;
        },
      };
      await page.goto(url);
      return page;
    };
    return await fn({ open, errors });
  } finally {
    if (cdp !== undefined) {
      await cdp.send("Browser.close").catch(() => {});
      await cdp.close();
    }
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

let warned = false;

/**
 * Registers a `Deno.test` that runs `fn` in headless chromium, or an ignored
 * test (with a note on stderr) when chromium cannot run here.
 */
export function browserTest(name: string, fn: (context: BrowserContext) => Promise<void>): void {
  if (chromiumMissing !== undefined && !warned) {
    warned = true;
    console.error(`browser tests skipped: ${chromiumMissing}`);
  }
  Deno.test({ name, ignore: chromiumMissing !== undefined, fn: () => withBrowser(fn) });
}

/** A decoded PNG: `rgba` holds 4 bytes per pixel, row by row. */
export type Image = { readonly width: number; readonly height: number; readonly rgba: Uint8Array };

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what chromium's
 * screenshots are) into RGBA pixels.
 */
export async function decodePng(png: Uint8Array): Promise<Image> {
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!signature.every((b, i) => png[i] === b)) {
    throw new TypeError(`png: expected the PNG signature, received bytes ${[...png.subarray(0, 8)]}`);
  }
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let width = 0, height = 0, colourType = -1;
  const idat: Uint8Array[] = [];
  for (let at = 8; at < png.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const body = png.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      const depth = body[8], interlace = body[12];
      colourType = body[9];
      if (depth !== 8 || (colourType !== 2 && colourType !== 6) || interlace !== 0) {
        throw new TypeError(
          `png: expected 8-bit non-interlaced RGB or RGBA, received depth ${depth}, colour type ${colourType}, interlace ${interlace}`,
        );
      }
    } else if (type === "IDAT") idat.push(body);
    else if (type === "IEND") break;
    at += 12 + length;
  }
  const joined = new Uint8Array(idat.reduce((n, c) => n + c.length, 0));
  idat.reduce((offset, chunk) => (joined.set(chunk, offset), offset + chunk.length), 0);
  const raw = await inflate(joined);
  const bpp = colourType === 6 ? 4 : 3;
  const stride = width * bpp;
  const rows = new Uint8Array(height * stride);
  const zero = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = rows.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? rows.subarray((y - 1) * stride, y * stride) : zero;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? out[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) {
        throw new TypeError(`png: expected filter 0–4, received ${filter} in row ${y}`);
      }
      out[i] = (line[i] + predictor) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba[p * 4] = rows[p * bpp];
    rgba[p * 4 + 1] = rows[p * bpp + 1];
    rgba[p * 4 + 2] = rows[p * bpp + 2];
    rgba[p * 4 + 3] = bpp === 4 ? rows[p * bpp + 3] : 255;
  }
  return { width, height, rgba };
}

/** How many different RGBA colours an image holds (1 for a blank image). */
export function distinctColours(image: Image): number {
  return new Set(new Uint32Array(image.rgba.buffer, image.rgba.byteOffset, image.width * image.height)).size;
}

/** The fraction of pixels that differ from the most common colour (the background): 0 for a blank image. */
export function inkFraction(image: Image): number {
  const words = new Uint32Array(image.rgba.buffer, image.rgba.byteOffset, image.width * image.height);
  if (words.length === 0) return 0;
  const counts = new Map<number, number>();
  for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
  let background = 0;
  for (const count of counts.values()) background = Math.max(background, count);
  return 1 - background / words.length;
}
