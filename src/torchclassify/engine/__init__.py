"""Training: the five-step loop, batching, optimizers and schedules, callbacks, devices."""
