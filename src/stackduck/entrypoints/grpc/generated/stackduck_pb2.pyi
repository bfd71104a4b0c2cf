from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Job(_message.Message):
    __slots__ = ("id", "job_type", "payload", "status", "priority", "retry_count", "max_retries", "error_message", "delay", "scheduled_at", "started_at", "completed_at", "created_at", "updated_at", "lease_token", "worker_id", "lease_expires_at", "result", "metadata", "attempts", "timeout_seconds", "attempt_deadline", "idempotency_key", "group")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    RETRY_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    id: str
    job_type: str
    payload: str
    status: str
    priority: int
    retry_count: int
    max_retries: int
    error_message: str
    delay: int
    scheduled_at: int
    started_at: int
    completed_at: int
    created_at: int
    updated_at: int
    lease_token: int
    worker_id: str
    lease_expires_at: int
    result: str
    metadata: _containers.ScalarMap[str, str]
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    timeout_seconds: float
    attempt_deadline: float
    idempotency_key: str
    group: str
    def __init__(self, id: _Optional[str] = ..., job_type: _Optional[str] = ..., payload: _Optional[str] = ..., status: _Optional[str] = ..., priority: _Optional[int] = ..., retry_count: _Optional[int] = ..., max_retries: _Optional[int] = ..., error_message: _Optional[str] = ..., delay: _Optional[int] = ..., scheduled_at: _Optional[int] = ..., started_at: _Optional[int] = ..., completed_at: _Optional[int] = ..., created_at: _Optional[int] = ..., updated_at: _Optional[int] = ..., lease_token: _Optional[int] = ..., worker_id: _Optional[str] = ..., lease_expires_at: _Optional[int] = ..., result: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., timeout_seconds: _Optional[float] = ..., attempt_deadline: _Optional[float] = ..., idempotency_key: _Optional[str] = ..., group: _Optional[str] = ...) -> None: ...

class Attempt(_message.Message):
    __slots__ = ("number", "worker_id", "started_at", "ended_at", "outcome", "error")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    number: int
    worker_id: str
    started_at: float
    ended_at: float
    outcome: str
    error: str
    def __init__(self, number: _Optional[int] = ..., worker_id: _Optional[str] = ..., started_at: _Optional[float] = ..., ended_at: _Optional[float] = ..., outcome: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class EnqueueJobRequest(_message.Message):
    __slots__ = ("job_type", "payload", "priority", "delay", "max_retries", "scheduled_at", "scheduled_in", "retry_limit", "timeout_seconds", "metadata", "idempotency_key", "group")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_IN_FIELD_NUMBER: _ClassVar[int]
    RETRY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    payload: str
    priority: int
    delay: int
    max_retries: int
    scheduled_at: str
    scheduled_in: float
    retry_limit: int
    timeout_seconds: float
    metadata: _containers.ScalarMap[str, str]
    idempotency_key: str
    group: str
    def __init__(self, job_type: _Optional[str] = ..., payload: _Optional[str] = ..., priority: _Optional[int] = ..., delay: _Optional[int] = ..., max_retries: _Optional[int] = ..., scheduled_at: _Optional[str] = ..., scheduled_in: _Optional[float] = ..., retry_limit: _Optional[int] = ..., timeout_seconds: _Optional[float] = ..., metadata: _Optional[_Mapping[str, str]] = ..., idempotency_key: _Optional[str] = ..., group: _Optional[str] = ...) -> None: ...

class EnqueueJobResponse(_message.Message):
    __slots__ = ("job_id", "success", "error_message", "duplicate")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    success: bool
    error_message: str
    duplicate: bool
    def __init__(self, job_id: _Optional[str] = ..., success: _Optional[bool] = ..., error_message: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class DequeueJobRequest(_message.Message):
    __slots__ = ("queue_name", "worker_id")
    QUEUE_NAME_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    queue_name: str
    worker_id: str
    def __init__(self, queue_name: _Optional[str] = ..., worker_id: _Optional[str] = ...) -> None: ...

class DequeueJobResponse(_message.Message):
    __slots__ = ("job", "success", "error_message")
    JOB_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    job: Job
    success: bool
    error_message: str
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., success: _Optional[bool] = ..., error_message: _Optional[str] = ...) -> None: ...

class DequeueRetriedJobRequest(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class DequeueRetriedJobResponse(_message.Message):
    __slots__ = ("success", "error_message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    error_message: str
    def __init__(self, success: _Optional[bool] = ..., error_message: _Optional[str] = ...) -> None: ...

class ConsumeJobsRequest(_message.Message):
    __slots__ = ("worker_id", "job_types", "max_in_flight", "batch", "stop_messages")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPES_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    STOP_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    job_types: _containers.RepeatedScalarFieldContainer[str]
    max_in_flight: int
    batch: bool
    stop_messages: bool
    def __init__(self, worker_id: _Optional[str] = ..., job_types: _Optional[_Iterable[str]] = ..., max_in_flight: _Optional[int] = ..., batch: _Optional[bool] = ..., stop_messages: _Optional[bool] = ...) -> None: ...

class JobMessage(_message.Message):
    __slots__ = ("job", "notification_type", "jobs", "stop")
    JOB_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    job: Job
    notification_type: str
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    stop: JobStop
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., notification_type: _Optional[str] = ..., jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., stop: _Optional[_Union[JobStop, _Mapping]] = ...) -> None: ...

class JobStop(_message.Message):
    __slots__ = ("job_id", "lease_token", "reason", "message")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    lease_token: int
    reason: str
    message: str
    def __init__(self, job_id: _Optional[str] = ..., lease_token: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class CompleteJobRequest(_message.Message):
    __slots__ = ("job_id", "lease_token", "worker_id", "result")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    lease_token: int
    worker_id: str
    result: str
    def __init__(self, job_id: _Optional[str] = ..., lease_token: _Optional[int] = ..., worker_id: _Optional[str] = ..., result: _Optional[str] = ...) -> None: ...

class CompleteJobResponse(_message.Message):
    __slots__ = ("success",)
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    def __init__(self, success: _Optional[bool] = ...) -> None: ...

class FailJobRequest(_message.Message):
    __slots__ = ("job_id", "error_message", "lease_token", "worker_id", "no_retry", "retry_in")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    NO_RETRY_FIELD_NUMBER: _ClassVar[int]
    RETRY_IN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    error_message: str
    lease_token: int
    worker_id: str
    no_retry: bool
    retry_in: float
    def __init__(self, job_id: _Optional[str] = ..., error_message: _Optional[str] = ..., lease_token: _Optional[int] = ..., worker_id: _Optional[str] = ..., no_retry: _Optional[bool] = ..., retry_in: _Optional[float] = ...) -> None: ...

class FailJobResponse(_message.Message):
    __slots__ = ("success", "will_retry", "retry_at")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    WILL_RETRY_FIELD_NUMBER: _ClassVar[int]
    RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    success: bool
    will_retry: bool
    retry_at: int
    def __init__(self, success: _Optional[bool] = ..., will_retry: _Optional[bool] = ..., retry_at: _Optional[int] = ...) -> None: ...

class RetryJobRequest(_message.Message):
    __slots__ = ("job_id", "error_message", "lease_token", "worker_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    error_message: str
    lease_token: int
    worker_id: str
    def __init__(self, job_id: _Optional[str] = ..., error_message: _Optional[str] = ..., lease_token: _Optional[int] = ..., worker_id: _Optional[str] = ...) -> None: ...

class RetryJobResponse(_message.Message):
    __slots__ = ("success", "will_retry", "retry_at")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    WILL_RETRY_FIELD_NUMBER: _ClassVar[int]
    RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    success: bool
    will_retry: bool
    retry_at: int
    def __init__(self, success: _Optional[bool] = ..., will_retry: _Optional[bool] = ..., retry_at: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobResponse(_message.Message):
    __slots__ = ("success", "job")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    success: bool
    job: Job
    def __init__(self, success: _Optional[bool] = ..., job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("job_id", "lease_token", "worker_id")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    lease_token: int
    worker_id: str
    def __init__(self, job_id: _Optional[str] = ..., lease_token: _Optional[int] = ..., worker_id: _Optional[str] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("success", "lease_expires_at")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    success: bool
    lease_expires_at: int
    def __init__(self, success: _Optional[bool] = ..., lease_expires_at: _Optional[int] = ...) -> None: ...

class ListDeadLettersRequest(_message.Message):
    __slots__ = ("job_type", "limit", "page_token")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    limit: int
    page_token: str
    def __init__(self, job_type: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDeadLettersResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RequeueDeadLetterRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class RequeueDeadLetterResponse(_message.Message):
    __slots__ = ("success", "job")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    success: bool
    job: Job
    def __init__(self, success: _Optional[bool] = ..., job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("job_type", "status", "limit", "page_token")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    status: str
    limit: int
    page_token: str
    def __init__(self, job_type: _Optional[str] = ..., status: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeadLetterSelection(_message.Message):
    __slots__ = ("job_ids", "job_type", "all")
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[str]
    job_type: str
    all: bool
    def __init__(self, job_ids: _Optional[_Iterable[str]] = ..., job_type: _Optional[str] = ..., all: _Optional[bool] = ...) -> None: ...

class DeadLetterCount(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class QueueStatsRequest(_message.Message):
    __slots__ = ("job_type",)
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    def __init__(self, job_type: _Optional[str] = ...) -> None: ...

class QueueStats(_message.Message):
    __slots__ = ("job_type", "ready_high", "ready_normal", "ready_low", "scheduled", "running", "dead", "completed_last_minute", "dead_last_minute", "failure_rate", "paused")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    READY_HIGH_FIELD_NUMBER: _ClassVar[int]
    READY_NORMAL_FIELD_NUMBER: _ClassVar[int]
    READY_LOW_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    DEAD_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_LAST_MINUTE_FIELD_NUMBER: _ClassVar[int]
    DEAD_LAST_MINUTE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_RATE_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    ready_high: int
    ready_normal: int
    ready_low: int
    scheduled: int
    running: int
    dead: int
    completed_last_minute: int
    dead_last_minute: int
    failure_rate: float
    paused: bool
    def __init__(self, job_type: _Optional[str] = ..., ready_high: _Optional[int] = ..., ready_normal: _Optional[int] = ..., ready_low: _Optional[int] = ..., scheduled: _Optional[int] = ..., running: _Optional[int] = ..., dead: _Optional[int] = ..., completed_last_minute: _Optional[int] = ..., dead_last_minute: _Optional[int] = ..., failure_rate: _Optional[float] = ..., paused: _Optional[bool] = ...) -> None: ...

class QueueStatsResponse(_message.Message):
    __slots__ = ("queues",)
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[QueueStats]
    def __init__(self, queues: _Optional[_Iterable[_Union[QueueStats, _Mapping]]] = ...) -> None: ...

class PauseQueueRequest(_message.Message):
    __slots__ = ("job_type",)
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    def __init__(self, job_type: _Optional[str] = ...) -> None: ...

class PauseQueueResponse(_message.Message):
    __slots__ = ("success", "paused")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    success: bool
    paused: bool
    def __init__(self, success: _Optional[bool] = ..., paused: _Optional[bool] = ...) -> None: ...

class ListWorkersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("worker_id", "job_types", "max_in_flight", "in_flight_job_ids", "connected_at", "last_seen_at", "peer")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPES_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_AT_FIELD_NUMBER: _ClassVar[int]
    PEER_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    job_types: _containers.RepeatedScalarFieldContainer[str]
    max_in_flight: int
    in_flight_job_ids: _containers.RepeatedScalarFieldContainer[str]
    connected_at: int
    last_seen_at: int
    peer: str
    def __init__(self, worker_id: _Optional[str] = ..., job_types: _Optional[_Iterable[str]] = ..., max_in_flight: _Optional[int] = ..., in_flight_job_ids: _Optional[_Iterable[str]] = ..., connected_at: _Optional[int] = ..., last_seen_at: _Optional[int] = ..., peer: _Optional[str] = ...) -> None: ...

class ListWorkersResponse(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ...) -> None: ...

class EnqueueJobsRequest(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[EnqueueJobRequest]
    def __init__(self, jobs: _Optional[_Iterable[_Union[EnqueueJobRequest, _Mapping]]] = ...) -> None: ...

class EnqueueJobsResponse(_message.Message):
    __slots__ = ("job_ids", "duplicate")
    JOB_IDS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    job_ids: _containers.RepeatedScalarFieldContainer[str]
    duplicate: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, job_ids: _Optional[_Iterable[str]] = ..., duplicate: _Optional[_Iterable[bool]] = ...) -> None: ...

class AckJobsRequest(_message.Message):
    __slots__ = ("completed", "failed")
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    completed: _containers.RepeatedCompositeFieldContainer[CompleteJobRequest]
    failed: _containers.RepeatedCompositeFieldContainer[FailJobRequest]
    def __init__(self, completed: _Optional[_Iterable[_Union[CompleteJobRequest, _Mapping]]] = ..., failed: _Optional[_Iterable[_Union[FailJobRequest, _Mapping]]] = ...) -> None: ...

class AckResult(_message.Message):
    __slots__ = ("job_id", "success", "error_code", "error_message")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    success: bool
    error_code: str
    error_message: str
    def __init__(self, job_id: _Optional[str] = ..., success: _Optional[bool] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ...) -> None: ...

class AckJobsResponse(_message.Message):
    __slots__ = ("completed", "failed")
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    completed: _containers.RepeatedCompositeFieldContainer[AckResult]
    failed: _containers.RepeatedCompositeFieldContainer[AckResult]
    def __init__(self, completed: _Optional[_Iterable[_Union[AckResult, _Mapping]]] = ..., failed: _Optional[_Iterable[_Union[AckResult, _Mapping]]] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("name", "job_type", "payload", "cron", "every_seconds", "timezone", "catch_up", "paused", "next_run_at", "last_run_at", "priority", "delay", "max_retries", "timeout_seconds", "metadata", "created_at", "updated_at", "group")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    EVERY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    CATCH_UP_FIELD_NUMBER: _ClassVar[int]
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_AT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DELAY_FIELD_NUMBER: _ClassVar[int]
    MAX_RETRIES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    name: str
    job_type: str
    payload: str
    cron: str
    every_seconds: int
    timezone: str
    catch_up: bool
    paused: bool
    next_run_at: int
    last_run_at: int
    priority: int
    delay: int
    max_retries: int
    timeout_seconds: float
    metadata: _containers.ScalarMap[str, str]
    created_at: int
    updated_at: int
    group: str
    def __init__(self, name: _Optional[str] = ..., job_type: _Optional[str] = ..., payload: _Optional[str] = ..., cron: _Optional[str] = ..., every_seconds: _Optional[int] = ..., timezone: _Optional[str] = ..., catch_up: _Optional[bool] = ..., paused: _Optional[bool] = ..., next_run_at: _Optional[int] = ..., last_run_at: _Optional[int] = ..., priority: _Optional[int] = ..., delay: _Optional[int] = ..., max_retries: _Optional[int] = ..., timeout_seconds: _Optional[float] = ..., metadata: _Optional[_Mapping[str, str]] = ..., created_at: _Optional[int] = ..., updated_at: _Optional[int] = ..., group: _Optional[str] = ...) -> None: ...

class PutScheduleRequest(_message.Message):
    __slots__ = ("name", "job", "cron", "every_seconds", "timezone", "catch_up")
    NAME_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    EVERY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    CATCH_UP_FIELD_NUMBER: _ClassVar[int]
    name: str
    job: EnqueueJobRequest
    cron: str
    every_seconds: int
    timezone: str
    catch_up: bool
    def __init__(self, name: _Optional[str] = ..., job: _Optional[_Union[EnqueueJobRequest, _Mapping]] = ..., cron: _Optional[str] = ..., every_seconds: _Optional[int] = ..., timezone: _Optional[str] = ..., catch_up: _Optional[bool] = ...) -> None: ...

class ScheduleResponse(_message.Message):
    __slots__ = ("schedule", "created")
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    created: bool
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ListSchedulesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSchedulesResponse(_message.Message):
    __slots__ = ("schedules",)
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[Schedule]
    def __init__(self, schedules: _Optional[_Iterable[_Union[Schedule, _Mapping]]] = ...) -> None: ...

class ScheduleName(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteScheduleResponse(_message.Message):
    __slots__ = ("success",)
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    def __init__(self, success: _Optional[bool] = ...) -> None: ...

class SetLimitRequest(_message.Message):
    __slots__ = ("job_type", "concurrency", "rate", "per", "burst", "group_concurrency")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    PER_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    GROUP_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    concurrency: int
    rate: float
    per: float
    burst: int
    group_concurrency: int
    def __init__(self, job_type: _Optional[str] = ..., concurrency: _Optional[int] = ..., rate: _Optional[float] = ..., per: _Optional[float] = ..., burst: _Optional[int] = ..., group_concurrency: _Optional[int] = ...) -> None: ...

class LimitStatus(_message.Message):
    __slots__ = ("job_type", "concurrency", "rate", "per", "burst", "running", "tokens", "group_concurrency")
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    PER_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    GROUP_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    concurrency: int
    rate: float
    per: float
    burst: int
    running: int
    tokens: float
    group_concurrency: int
    def __init__(self, job_type: _Optional[str] = ..., concurrency: _Optional[int] = ..., rate: _Optional[float] = ..., per: _Optional[float] = ..., burst: _Optional[int] = ..., running: _Optional[int] = ..., tokens: _Optional[float] = ..., group_concurrency: _Optional[int] = ...) -> None: ...

class ListLimitsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListLimitsResponse(_message.Message):
    __slots__ = ("limits",)
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    limits: _containers.RepeatedCompositeFieldContainer[LimitStatus]
    def __init__(self, limits: _Optional[_Iterable[_Union[LimitStatus, _Mapping]]] = ...) -> None: ...

class ClearLimitRequest(_message.Message):
    __slots__ = ("job_type",)
    JOB_TYPE_FIELD_NUMBER: _ClassVar[int]
    job_type: str
    def __init__(self, job_type: _Optional[str] = ...) -> None: ...

class ClearLimitResponse(_message.Message):
    __slots__ = ("cleared",)
    CLEARED_FIELD_NUMBER: _ClassVar[int]
    cleared: bool
    def __init__(self, cleared: _Optional[bool] = ...) -> None: ...
