/**
 * `pubzub/models`: the page's own state as topics, after cotonic and Zotonic. Each model is a
 * function of its own: a page ships only those it imports, and one that imports none ships
 * none of this.
 *
 * @example
 * import pubzub from "pubzub";
 * import { localStorageModel, locationModel } from "pubzub/models";
 *
 * localStorageModel(pubzub);
 * locationModel(pubzub);
 * await pubzub.publish("model/localStorage/post/theme", "dark");
 * const { payload } = await pubzub.call("model/localStorage/get/theme"); // "dark"
 * pubzub.subscribe("model/location/event/hash", (msg) => console.log(msg.payload));
 */
export type { Host, Stop } from "./host.js";
export { localStorageModel, sessionStorageModel, type StorageArea } from "./models/storage.js";
export { locationModel, type LocationEvent } from "./models/location.js";
export { documentModel, windowModel } from "./models/page.js";
