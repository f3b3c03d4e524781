"""TensorBoard event files written and read without TensorFlow.

An event file is a TFRecord file of serialized `Event` protos: each record is its
length (uint64, little-endian), the masked CRC-32C of those 8 bytes, the data, and
the masked CRC-32C of the data. The protos and the checksum come from the
`tensorboard` package, whose own writer (and `tf.summary`) would load TensorFlow,
which costs a training process seconds at start and is absent on the GPU machine.
Scalars are written as `tf.summary.scalar` writes them (a float32 scalar tensor
under the 'scalars' plugin), so TensorBoard and TensorFlow's readers see the same.
`tensorboard` is imported only when events are written or read: it takes about a second,
and a machine with JAX alone may not have it (`metric_writers` then writes none).
"""

import itertools
import os
import socket
import struct
import time

import numpy as np

FILE_PREFIX = 'events.out.tfevents'
_HEADER = struct.Struct('<QI')
_FOOTER = struct.Struct('<I')
_file_numbers = itertools.count()


def new_file_name(directory):
  """TensorFlow's naming: prefix, time, host, process, a number unique in the process."""
  return os.path.join(directory, f'{FILE_PREFIX}.{int(time.time()):010d}.'
                      f'{socket.gethostname()}.{os.getpid()}.{next(_file_numbers)}.v2')


def _masked_crc32c(data: bytes) -> int:
  from tensorboard.compat.tensorflow_stub import pywrap_tensorflow  # deferred: optional, ~1 s
  return pywrap_tensorflow.masked_crc32c(data)


def encode_record(data: bytes) -> bytes:
  length = struct.pack('<Q', len(data))
  return (length + _FOOTER.pack(_masked_crc32c(length)) + data
          + _FOOTER.pack(_masked_crc32c(data)))


def read_records(path):
  """The file's records as (data, framed bytes), and whether it ended in a damaged or
  partly written record (a process killed while writing), after which nothing is read."""
  with open(path, 'rb') as f:
    content = f.read()
  records, offset = [], 0
  while offset < len(content):
    if offset + _HEADER.size > len(content):
      return records, True
    length, length_crc = _HEADER.unpack_from(content, offset)
    end = offset + _HEADER.size + length + _FOOTER.size
    if _masked_crc32c(content[offset:offset + 8]) != length_crc or end > len(content):
      return records, True
    data = content[offset + _HEADER.size:end - _FOOTER.size]
    if _masked_crc32c(data) != _FOOTER.unpack_from(content, end - _FOOTER.size)[0]:
      return records, True
    records.append((data, content[offset:end]))
    offset = end
  return records, False


def version_event():
  from tensorboard.compat.proto import event_pb2  # deferred: optional, ~1 s
  return event_pb2.Event(wall_time=time.time(), file_version='brain.Event:2')


def scalars_event(step: int, scalars: dict):
  """One event holding every scalar of a step, each as `tf.summary.scalar` writes it."""
  from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2  # deferred
  metadata = summary_pb2.SummaryMetadata(
      plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name='scalars'))
  values = [summary_pb2.Summary.Value(
      tag=tag, metadata=metadata,
      tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT,
                                    tensor_content=np.float32(value).tobytes()))
            for tag, value in scalars.items()]
  return event_pb2.Event(wall_time=time.time(), step=step,
                         summary=summary_pb2.Summary(value=values))


def parse_event(data: bytes):
  from tensorboard.compat.proto import event_pb2  # deferred: optional, ~1 s
  return event_pb2.Event.FromString(data)


def paths_in(directory):
  """The event files in `directory` (none if it does not exist), sorted by name."""
  if not os.path.isdir(directory):
    return []
  return [os.path.join(directory, name) for name in sorted(os.listdir(directory))
          if name.startswith(FILE_PREFIX) and os.path.isfile(os.path.join(directory, name))]
