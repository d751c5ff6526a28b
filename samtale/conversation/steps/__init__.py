"""The steps of one turn, in the order :func:`samtale.conversation.pipeline.run_turn` runs them.

Each step is ``async def run(ctx: TurnContext, deps: TurnDependencies) -> None``: it reads what
earlier steps left in the context, emits its events and fills its own fields and timings.
A step that answers the shopper by itself (a fixed order reply) sets ``ctx.answered`` so the
later steps are skipped. A step raises a :class:`~samtale.errors.SamtaleError` to fail the turn.
"""
