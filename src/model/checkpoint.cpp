// src/model/checkpoint.cpp — a Hugging Face checkpoint folder: opening one (config.json plus a
// single model.safetensors or shards listed in model.safetensors.index.json) and writing the
// weights of one the way transformers' save_pretrained does.
//
// Invariants of an open Checkpoint: every file it maps passed the safetensors validation, every
// tensor name lives in exactly one file, and every entry of the index's weight_map is really in
// the shard it names. Index file names are confined to the folder (no '/' or '..'), so a
// downloaded index cannot make us map files elsewhere.
#include "src/model/checkpoint.h"

#include <cstdio>
#include <filesystem>

#include "src/core/logging.h"
#include "src/core/progress.h"

namespace tessera {
namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// A shard name must be a plain file name inside the checkpoint folder.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name.find("..") == std::string::npos &&
         name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

// The shard file names of model.safetensors.index.json, keyed by tensor name.
Expected<std::map<std::string, std::string>> read_weight_map(const std::string& index_path) {
  TESSERA_ASSIGN_OR_RETURN(std::string text, read_text_file(index_path));
  Json json;
  try {
    TESSERA_ASSIGN_OR_RETURN(json, parse_json(text, index_path));
  } catch (const Json::exception& e) {
    return invalid_argument(index_path + ": invalid JSON: " + e.what());
  }
  if (!json.is_object())
    return invalid_argument(index_path + ": expected a JSON object at the top level, got " +
                            json_excerpt(json));
  const JsonObject root(json, index_path);
  const Json* weight_map = root.find("weight_map");
  if (!weight_map) return root.field_error("weight_map", "is missing");
  if (!weight_map->is_object())
    return root.field_error("weight_map", "must be an object of tensor name -> file name, got " +
                                              json_excerpt(*weight_map));
  if (weight_map->empty()) return root.field_error("weight_map", "is empty");
  std::map<std::string, std::string> out;
  for (auto it = weight_map->begin(); it != weight_map->end(); ++it) {
    if (!it->is_string())
      return root.field_error("weight_map['" + it.key() + "']",
                              "must be a file name string, got " + json_excerpt(*it));
    const std::string file = it->get<std::string>();
    if (!is_plain_file_name(file))
      return root.field_error("weight_map['" + it.key() + "']",
                              "must be a plain file name in the checkpoint folder (no '/' or "
                              "'..'), got " + json_excerpt(*it));
    out[it.key()] = file;
  }
  return out;
}

}  // namespace

Expected<ModelConfig> load_config_for_model(const std::string& model_path) {
  TESSERA_ASSIGN_OR_RETURN(std::string gguf_path, find_gguf_model(model_path));
  if (gguf_path.empty()) return load_model_config(model_path);
  TESSERA_ASSIGN_OR_RETURN(auto model, GgufModel::open(gguf_path));
  return model->config();
}

std::string Checkpoint::config_source() const {
  return gguf_ ? gguf_->path() + " (metadata)" : join_path(dir_, "config.json");
}

Expected<Checkpoint> Checkpoint::open(const std::string& model_dir) {
  Checkpoint ckpt;
  ckpt.dir_ = model_dir;
  TESSERA_ASSIGN_OR_RETURN(std::string gguf_path, find_gguf_model(model_dir));
  if (!gguf_path.empty()) {
    TESSERA_ASSIGN_OR_RETURN(ckpt.gguf_, GgufModel::open(gguf_path));
    ckpt.config_ = ckpt.gguf_->config();
    return ckpt;
  }
  TESSERA_ASSIGN_OR_RETURN(ckpt.config_, load_model_config(model_dir));

  const std::string index_path = join_path(model_dir, kIndexFile);
  const std::string single_path = join_path(model_dir, kSingleFile);
  std::map<std::string, std::string> weight_map;
  if (is_regular_file(index_path)) {
    TESSERA_ASSIGN_OR_RETURN(weight_map, read_weight_map(index_path));
    std::map<std::string, size_t> shard_index;  // file name -> files_ position
    for (const auto& [name, file] : weight_map) {
      if (shard_index.count(file)) continue;
      Expected<SafetensorsFile> shard = SafetensorsFile::open(join_path(model_dir, file));
      if (!shard) {
        Status st = shard.status();
        if (st.code() != StatusCode::kNotFound) return st;
        return not_found(st.message() + " (listed in " + kIndexFile + ")");
      }
      shard_index[file] = ckpt.files_.size();
      ckpt.files_.push_back(std::move(shard).value());
    }
  } else if (is_regular_file(single_path)) {
    TESSERA_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(single_path));
    ckpt.files_.push_back(std::move(file));
  } else {
    return not_found(model_dir + ": no " + kSingleFile + " or " + kIndexFile);
  }

  // Every tensor of every file, each in exactly one: two copies could disagree, and which one a
  // loader picks would depend on file order.
  for (size_t i = 0; i < ckpt.files_.size(); ++i) {
    for (const SafetensorsEntry& e : ckpt.files_[i].header().entries) {
      auto [it, inserted] = ckpt.where_.emplace(e.name, i);
      if (!inserted)
        return data_loss(ckpt.files_[i].path() + ": tensor '" + e.name + "' is also in " +
                         ckpt.files_[it->second].path());
    }
  }
  for (const auto& [name, file] : weight_map) {
    auto it = ckpt.where_.find(name);
    const std::string shard_path = join_path(model_dir, file);
    if (it == ckpt.where_.end() || ckpt.files_[it->second].path() != shard_path)
      return not_found(index_path + " says '" + name + "' is in shard " + file +
                       " but it is not");
  }
  if (!weight_map.empty() && ckpt.where_.size() > weight_map.size())
    LOG_WARN(index_path << ": " << ckpt.where_.size() - weight_map.size()
                        << " tensor(s) in the shards are not listed in weight_map");
  return ckpt;
}

bool Checkpoint::contains(const std::string& name) const {
  return gguf_ ? gguf_->contains(name) : where_.count(name) != 0;
}

Expected<Tensor> Checkpoint::get(const std::string& name) const {
  if (gguf_) return gguf_->get(name);
  auto it = where_.find(name);
  if (it == where_.end()) {
    const std::string where = files_.size() == 1 ? files_[0].path() : dir_ + " (all shards)";
    return not_found(where + ": no tensor named '" + name + "'");
  }
  return files_[it->second].get(name);
}

std::string Checkpoint::file_of(const std::string& name) const {
  if (gguf_) {
    const GgufTensorInfo* t = gguf_->info(name);
    return gguf_->path() + (t ? " (tensor '" + t->name + "')" : "");
  }
  auto it = where_.find(name);
  return it == where_.end() ? dir_ : files_[it->second].path();
}

std::vector<std::string> Checkpoint::tensor_names() const {
  if (gguf_) return gguf_->tensor_names();
  std::vector<std::string> names;
  names.reserve(where_.size());
  for (const auto& [name, file] : where_) names.push_back(name);  // std::map: already sorted
  return names;
}

uint64_t Checkpoint::total_tensor_bytes() const {
  if (gguf_) return gguf_->served_bytes();
  uint64_t total = 0;
  for (const SafetensorsFile& f : files_)
    for (const SafetensorsEntry& e : f.header().entries) total += e.end - e.begin;
  return total;
}

uint64_t Checkpoint::stored_tensor_bytes() const {
  if (!gguf_) return total_tensor_bytes();
  uint64_t total = 0;
  for (const GgufTensorInfo& t : gguf_->gguf().tensors) total += t.bytes;
  return total;
}

std::map<std::string, int64_t> Checkpoint::params_by_dtype() const {
  // Keyed by the safetensors spelling ("BF16", "F8_E4M3"), so dtypes tessera cannot compute
  // with still show up in `tessera info`.
  if (gguf_) return gguf_->params_by_type();
  std::map<std::string, int64_t> out;
  for (const SafetensorsFile& f : files_)
    for (const SafetensorsEntry& e : f.header().entries)
      out[e.dtype_name] += checked_numel(e.shape).value_or(0);
  return out;
}

Status write_checkpoint_weights(const std::string& model_dir, const std::vector<TensorSpec>& specs,
                                const TensorFill& fill, uint64_t max_shard_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(model_dir, ec);
  if (ec) return io_error(model_dir + ": cannot create directory: " + ec.message());

  // Greedy packing in order, as transformers' shard_checkpoint does: a tensor starts a new shard
  // when it would push the current one past the limit; a tensor larger than the limit gets a
  // shard of its own rather than being split.
  std::vector<std::vector<size_t>> shards(1);
  uint64_t shard_bytes = 0;
  uint64_t total_bytes = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    const uint64_t n = specs[i].nbytes();
    if (!shards.back().empty() && shard_bytes + n > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(i);
    shard_bytes += n;
    total_bytes += n;
  }

  const size_t num_shards = shards.size();
  auto shard_name = [&](size_t s) {
    if (num_shards == 1) return std::string(kSingleFile);
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", s + 1, num_shards);
    return std::string(buf);
  };
  // A leftover from an earlier save would take precedence over (or shadow) what we write:
  // Checkpoint::open prefers the index, transformers prefers model.safetensors.
  std::filesystem::remove(join_path(model_dir, num_shards == 1 ? kIndexFile : kSingleFile), ec);

  ProgressBar bar("writing weights", total_bytes);
  Json weight_map = Json::object();
  for (size_t s = 0; s < num_shards; ++s) {
    const std::vector<size_t>& members = shards[s];
    std::vector<TensorSpec> shard_specs;
    shard_specs.reserve(members.size());
    for (size_t i : members) {
      shard_specs.push_back(specs[i]);
      weight_map[specs[i].name] = shard_name(s);
    }
    // The writer numbers tensors within the shard; the caller's fill knows them by spec index.
    const TensorFill shard_fill = [&](size_t j, void* dst, size_t nbytes) {
      Status st = fill(members[j], dst, nbytes);
      bar.advance(nbytes);
      return st;
    };
    TESSERA_RETURN_IF_ERROR(
        write_safetensors(join_path(model_dir, shard_name(s)), shard_specs, shard_fill));
  }
  bar.finish();
  if (num_shards == 1) return Status::ok();

  Json index = Json::object();
  index["metadata"] = {{"total_size", total_bytes}};
  index["weight_map"] = std::move(weight_map);  // nlohmann::json sorts keys: sorted by name
  return write_text_file(join_path(model_dir, kIndexFile), index.dump(2) + "\n");
}

}  // namespace tessera
