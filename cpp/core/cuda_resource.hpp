// Ownership of one native object shared by its JS handle and by the operations that use it: a
// release is refused while operations hold the object, or deferred until the last one ends.
// No JS here; the CUDA binding wraps device memory, pinned memory and pinnings in it.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "core/error.hpp"

namespace dynamo::memory::cuda {

/// An owned object shared by its JS handle and by operations in flight. The object is released
/// by free() (JS thread, refused while held), or, on the finalizer and teardown paths, when the
/// last hold ends.
template <typename T>
class Resource {
 public:
  /// `disposed_code` and `busy_code` are the error codes for use after release and for a release
  /// refused while held.
  Resource(std::unique_ptr<T> object, const char* disposed_code, const char* busy_code)
      : _object(std::move(object)), _disposed_code(disposed_code), _busy_code(busy_code) {}

  /// Marks the object in use; the pointer stays valid until drop().
  /// @throws Error kDisposed once released.
  T* acquire(const char* what) {
    std::lock_guard<std::mutex> lock(_mutex);
    if (!_object || _release_pending) {
      throw Error(ErrorKind::kDisposed, _disposed_code, std::string(what) + " was already freed");
    }
    ++_holds;
    return _object.get();
  }

  void drop() noexcept {
    std::unique_ptr<T> doomed;
    {
      std::lock_guard<std::mutex> lock(_mutex);
      if (--_holds == 0 && _release_pending) doomed = std::move(_object);
    }
  }

  /// Releases now. Returns false when already released.
  /// @throws Error kBusy (detail holds) while held.
  bool release_now(const char* what) {
    std::unique_ptr<T> doomed;
    std::lock_guard<std::mutex> lock(_mutex);
    if (!_object || _release_pending) return false;
    if (_holds > 0) {
      Error error(ErrorKind::kBusy,
                  _busy_code,
                  std::string(what) + " cannot be freed while " + std::to_string(_holds) +
                      " operation(s) use it; await them first");
      error.details["holds"] = std::to_string(_holds);
      throw error;
    }
    doomed = std::move(_object);
    return true;
  }

  /// Releases now, or when the last hold ends. Returns false when already released.
  bool release_when_idle() noexcept {
    std::unique_ptr<T> doomed;
    std::lock_guard<std::mutex> lock(_mutex);
    if (!_object || _release_pending) return false;
    if (_holds > 0) {
      _release_pending = true;
      return true;
    }
    doomed = std::move(_object);
    return true;
  }

  bool released() noexcept {
    std::lock_guard<std::mutex> lock(_mutex);
    return !_object || _release_pending;
  }

  int holds() noexcept {
    std::lock_guard<std::mutex> lock(_mutex);
    return _holds;
  }

  /// The object while not released; for reads on the JS thread.
  T* peek() noexcept {
    std::lock_guard<std::mutex> lock(_mutex);
    return _release_pending ? nullptr : _object.get();
  }

 private:
  std::mutex _mutex;
  std::unique_ptr<T> _object;
  const char* _disposed_code;
  const char* _busy_code;
  int _holds = 0;
  bool _release_pending = false;
};

/// Keeps a Resource acquired for the life of an operation; movable to a worker thread.
template <typename T>
class ResourceHold {
 public:
  ResourceHold() = default;
  ResourceHold(std::shared_ptr<Resource<T>> resource, const char* what)
      : _object(resource->acquire(what)), _resource(std::move(resource)) {}
  ResourceHold(ResourceHold&& other) noexcept
      : _object(std::exchange(other._object, nullptr)), _resource(std::move(other._resource)) {}
  ResourceHold& operator=(ResourceHold&& other) noexcept {
    if (this != &other) {
      if (_resource) _resource->drop();
      _object = std::exchange(other._object, nullptr);
      _resource = std::move(other._resource);
    }
    return *this;
  }
  ~ResourceHold() {
    if (_resource) _resource->drop();
  }
  T* get() const noexcept { return _object; }

 private:
  T* _object = nullptr;
  std::shared_ptr<Resource<T>> _resource;
};

}  // namespace dynamo::memory::cuda
