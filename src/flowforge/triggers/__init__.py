"""What starts runs besides the API: webhooks, cron schedules and other runs' failures."""

from flowforge.triggers._specs import trigger_specs
from flowforge.triggers.schedules import Scheduler, next_tick, ticks_to_fire
from flowforge.triggers.webhooks import SignatureError, request_input, verify_signature

__all__ = [
    "Scheduler",
    "SignatureError",
    "next_tick",
    "request_input",
    "ticks_to_fire",
    "trigger_specs",
    "verify_signature",
]
