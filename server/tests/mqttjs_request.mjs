// A page-like MQTT.js client for server/tests/api.rs: connects over WebSocket (anonymous, like
// a page), sends one request with a response topic and prints the reply's payload.
// Usage: node mqttjs_request.mjs <ws url> <request topic> <payload>
import mqtt from 'mqtt';

const [url, topic, payload] = process.argv.slice(2);
const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 });
const timer = setTimeout(() => {
  console.error('no reply within 5 s');
  process.exit(2);
}, 5000);
client.on('error', (e) => {
  console.error(e.message);
  process.exit(1);
});
client.on('connect', async () => {
  const replyTo = `reply/call-mqttjs-${Date.now()}`;
  client.on('message', (t, message, packet) => {
    if (t !== replyTo) return;
    clearTimeout(timer);
    const correlation = packet.properties?.correlationData?.toString();
    console.log(`${message.toString()} (${correlation})`);
    client.end(false, () => process.exit(0));
  });
  await client.subscribeAsync(replyTo, { qos: 1 });
  await client.publishAsync(topic, payload, {
    qos: 1,
    properties: { responseTopic: replyTo, correlationData: Buffer.from('corr-42') },
  });
});
