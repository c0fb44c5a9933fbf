/** Host and port of an `mqtts://host:port` / `mqtt://host:port` URL, for command-line MQTT clients. */
export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) };
}
