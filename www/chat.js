// Chat between tabs through the server; presence kept by retained messages and lastwills.
import { start, el, pubzub } from "/shared.js";

const ROOM = "bridge/origin/public/chat/room/lobby";
const PRESENCE = "bridge/origin/public/chat/presence";

const log = document.getElementById("log");
const people = document.getElementById("people");
const nameInput = document.getElementById("name");
const here = new Map(); // client id -> name

let name = sessionStorage.getItem("chat-name") ?? `guest-${Math.floor(1000 + Math.random() * 9000)}`;
nameInput.value = name;

function showPeople(me) {
  people.replaceChildren(
    ...[...here].map(([id, who]) => el("li", id === me ? `${who} (you)` : who)),
  );
}

const status = await start();
const me = status.client_id;

pubzub.subscribe(`${PRESENCE}/+client`, (msg, { client }) => {
  const gone = msg.payload === undefined || msg.payload === "" || msg.payload?.length === 0;
  if (gone) here.delete(client);
  else here.set(client, msg.payload.name);
  showPeople(me);
});

pubzub.subscribe(ROOM, (msg) => {
  const line = el("div", undefined, "line");
  line.append(el("span", msg.payload.name, "who"), el("span", msg.payload.text));
  log.append(line);
  log.scrollTop = log.scrollHeight;
});

const announce = () =>
  pubzub.publish(`${PRESENCE}/${me}`, { name }, { qos: 1, retain: true });
// When this tab goes, the server clears its presence: an empty retained message. A closed tab
// clears it at once; a lost connection after 5 s, unless the tab is back by then.
await pubzub.lastwill(`${PRESENCE}/${me}`, "", { qos: 1, retain: true, delay: 5 });
// After a longer absence the will has fired: say so again on every reconnect.
let online = false;
pubzub.on("status", (s) => {
  if (s.is_connected && !online) announce();
  online = s.is_connected;
});

document.getElementById("send").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = document.getElementById("text");
  pubzub.publish(ROOM, { name, text: text.value }, { qos: 1 });
  text.value = "";
});

document.getElementById("rename").addEventListener("submit", (e) => {
  e.preventDefault();
  name = nameInput.value.trim() || name;
  sessionStorage.setItem("chat-name", name);
  announce();
});
