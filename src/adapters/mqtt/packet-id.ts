/**
 * A packet identifier as MQTT 3.1.1 allows it: 1 to 65,535 [MQTT-2.3.1-1]. mqtt-packet does not
 * check it: a QoS 1 PUBLISH whose body ends with its topic comes out with -1, or with two bytes of
 * the packet after it; and it encodes an identifier out of range as a packet cut short, which
 * would desynchronise the peer's parser.
 */
export const isPacketId = (id: unknown): id is number => typeof id === 'number' && Number.isInteger(id) && id >= 1 && id <= 65_535;
