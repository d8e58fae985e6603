// The JavaScript brokers pubzub's page broker is measured against, bundled for the page.
export { Qlobber } from "qlobber";
export { default as MQEmitter } from "mqemitter";
