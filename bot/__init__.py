"""Chat-agnostic notifications: the message model, message builders, delivery destinations and the
service functions the scheduler calls. Adapters (Slack, Teams) render and deliver what this builds."""
