/** What the admin API adapters (REST and gRPC) tell metrics: one call answered. */
export interface ApiCallObserver {
  /**
   * `method`: the RPC's full name (`google.cloud.iot.v1.DeviceManager/GetDevice`) or a route name,
   * from a fixed set; `code`: the canonical google.rpc code name; `seconds` undefined for streams.
   */
  apiCall(transport: 'rest' | 'grpc', method: string, code: string, seconds: number | undefined): void;
}
