/**
 * `pubzub/live`: topics in the page's HTML, both ways, after Zotonic's live templates and
 * cotonic's `data-on...-topic` attributes.
 *
 * - `<pubzub-live topic="truck/7/temp"></pubzub-live>` shows the latest message on a topic
 *   (or pattern), as text: markup in a payload is never parsed. A renderer makes more of it.
 * - `data-onclick-topic`, `data-onsubmit-topic`, `data-onchange-topic` and
 *   `data-oninput-topic` publish when the event happens on the element (or inside it).
 *
 * @example
 * import pubzub from "pubzub";
 * import { defineLive, wireEvents } from "pubzub/live";
 *
 * defineLive(pubzub, { renderers: { celsius: (msg) => `${msg.payload} °C` } });
 * wireEvents(pubzub);
 * // <pubzub-live topic="truck/7/temp" render="celsius"></pubzub-live>
 * // <button data-onclick-topic="truck/7/horn" data-truck="7">Horn</button>
 */
import { type Host, type Stop, byName, listen } from "./host.js";
import { PubzubError } from "./errors.js";
import type { Message } from "./types.js";

/** Makes a message into what a live element shows: text (never parsed as markup) or a Node. */
export type Render = (msg: Message, element: HTMLElement) => string | Node | null | undefined;

export interface LiveOptions {
  /** The element's name (`pubzub-live` by default). */
  name?: string;
  /** Renderers a live element names in its `render` attribute. */
  renderers?: Record<string, Render>;
}

/** A payload as text: strings as they are, objects as JSON, bytes by their count. */
export function text(payload: unknown): string {
  if (payload === undefined || payload === null) return "";
  if (typeof payload === "string") return payload;
  if (payload instanceof Date) return payload.toISOString();
  if (payload instanceof Uint8Array || payload instanceof ArrayBuffer) return `${payload.byteLength} bytes`;
  if (typeof payload === "object") return JSON.stringify(payload);
  return String(payload);
}

/**
 * Defines the live element on `host`. Each element subscribes to its `topic` attribute while
 * it is in the document (a retained message shows at once) and shows every message that
 * arrives: through its `render` property if set, else the renderer its `render` attribute
 * names, else as text. A renderer's string is text too; a Node replaces the content.
 */
export function defineLive(host: Host, options: LiveOptions = {}): void {
  const name = options.name ?? "pubzub-live";
  const renderers = options.renderers ?? {};
  if (customElements.get(name) !== undefined) throw new PubzubError(`<${name}> is already defined`);
  customElements.define(
    name,
    class extends HTMLElement {
      static observedAttributes = ["topic", "render"];
      /** Renders this element's messages; wins over the `render` attribute. */
      render: Render | undefined;
      #stop: Stop | undefined;
      /** The topic subscribed to (or tried: a bad one warns once), while in the document. */
      #topic: string | null = null;
      #last: Message | undefined;

      connectedCallback(): void {
        const topic = this.getAttribute("topic");
        if (topic === this.#topic) return;
        this.#topic = topic;
        if (topic === null) return;
        try {
          const sub = host.subscribe(topic, (msg) => this.#show(msg));
          sub.ready.catch((e: unknown) => console.warn(`pubzub: <${name} topic="${topic}">:`, e));
          this.#stop = () => sub.unsubscribe();
        } catch (e) {
          console.warn(`pubzub: <${name} topic="${topic}">:`, e);
        }
      }

      disconnectedCallback(): void {
        this.#stop?.();
        this.#stop = undefined;
        this.#topic = null;
      }

      attributeChangedCallback(attribute: string): void {
        if (attribute === "render") {
          if (this.#last !== undefined) this.#show(this.#last);
        } else if (this.isConnected && this.getAttribute("topic") !== this.#topic) {
          this.disconnectedCallback();
          this.connectedCallback();
        }
      }

      #show(msg: Message): void {
        this.#last = msg;
        const render = this.render ?? renderers[this.getAttribute("render") ?? ""];
        const out = render === undefined ? text(msg.payload) : render(msg, this);
        if (out instanceof Node) this.replaceChildren(out);
        else this.textContent = out ?? "";
      }
    },
  );
}

/** The DOM events `wireEvents` publishes, each by its `data-on<event>-topic` attribute. */
const EVENTS = ["click", "submit", "change", "input"] as const;

/** A form's text fields by name (files stay in the page). */
function formValues(form: HTMLFormElement): Record<string, string | string[]> {
  return byName([...new FormData(form)].filter((e): e is [string, string] => typeof e[1] === "string"));
}

/** What an event publishes: the element's `data-*` values (not the wiring's) and its value. */
function payloadOf(el: HTMLElement): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(el.dataset)) if (!/^on[a-z]+(Topic|Cancel)$/.test(key)) data[key] = value;
  if (el instanceof HTMLFormElement) data.value = formValues(el);
  else if (el instanceof HTMLInputElement && (el.type === "checkbox" || el.type === "radio")) data.value = el.checked;
  else if (el instanceof HTMLSelectElement && el.multiple) data.value = [...el.selectedOptions].map((o) => o.value);
  else if ("value" in el && typeof el.value === "string") data.value = el.value;
  return data;
}

/**
 * Publishes on DOM events inside `root` (the document by default): an element with
 * `data-onclick-topic="T"` publishes to `T` when clicked, a form with `data-onsubmit-topic`
 * when submitted, a field with `data-onchange-topic` or `data-oninput-topic` when it changes.
 * The payload is the element's other `data-*` values and its `value` (a form's: its fields
 * as an object; a checkbox's: `checked`). Clicks and submits do not also follow the link or
 * send the form unless `data-on<event>-cancel="no"`. Returns what removes the listeners.
 */
export function wireEvents(host: Host, root: Document | Element = document): Stop {
  const stops = EVENTS.map((type) =>
    listen(root, type, (event) => {
      const attribute = `data-on${type}-topic`;
      const el = event.target instanceof Element ? event.target.closest<HTMLElement>(`[${attribute}]`) : null;
      if (el === null || !root.contains(el)) return;
      const topic = el.getAttribute(attribute) as string;
      if ((type === "click" || type === "submit") && el.getAttribute(`data-on${type}-cancel`) !== "no") {
        event.preventDefault();
      }
      host.publish(topic, payloadOf(el)).catch((e: unknown) => console.warn(`pubzub: ${attribute}="${topic}":`, e));
    }),
  );
  return () => {
    for (const stop of stops) stop();
  };
}
