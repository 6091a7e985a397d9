import bosun


def test_exported_names_are_pinned() -> None:
    assert sorted(bosun.__all__) == sorted(
        [
            "Agent",
            "App",
            "AsyncClient",
            "AuthenticationFailed",
            "Budget",
            "BudgetExceeded",
            "Client",
            "InvalidRequest",
            "PermissionDenied",
            "RateLimited",
            "ServiceError",
            "SessionBusy",
            "SessionNotFound",
            "BosunError",
            "ChildFailed",
            "ConfigurationError",
            "ContentFiltered",
            "Context",
            "DeadlineExceeded",
            "DeterminismError",
            "GuardrailTripped",
            "IdempotencyConflict",
            "InvalidArguments",
            "InvalidRunState",
            "InvalidSchedule",
            "LeaseLost",
            "OutputTruncated",
            "PayloadTooLarge",
            "RateLimit",
            "Refused",
            "Reservation",
            "ResultTimeout",
            "Retry",
            "RunCancelled",
            "RunError",
            "RunFailed",
            "RunHandle",
            "RunNotFound",
            "ScheduleNotFound",
            "SchemaTooNew",
            "SerializationError",
            "SignalTimeout",
            "Step",
            "StepFailed",
            "StoreError",
            "StoreUnavailable",
            "Workflow",
            "WorkflowNotFound",
            "__version__",
            "current_context",
            "guardrail",
            "handoff",
        ]
    )
    for name in bosun.__all__:
        assert hasattr(bosun, name)


def test_every_error_descends_from_the_root() -> None:
    errors = [getattr(bosun, n) for n in bosun.__all__ if isinstance(getattr(bosun, n), type)]
    for error in errors:
        if issubclass(error, Exception):
            assert issubclass(error, bosun.BosunError), error
    assert issubclass(bosun.SignalTimeout, TimeoutError)
    assert issubclass(bosun.ResultTimeout, TimeoutError)


def test_control_flow_cannot_be_swallowed_by_except_exception() -> None:
    from bosun.engine.control import Release, Suspend

    assert not issubclass(Suspend, Exception)
    assert not issubclass(Release, Exception)
