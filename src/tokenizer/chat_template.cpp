// src/tokenizer/chat_template.cpp — ChatTemplate: builds the HF context and drives the Jinja engine.
#include "src/tokenizer/chat_template.h"

namespace tessera {

namespace jinja {
class Template {
 public:
  std::string name, source;
};
}  // namespace jinja

Expected<ChatTemplate> ChatTemplate::parse(std::string_view source, std::string_view name) {
  return unimplemented(std::string(name) + ": chat templates are not implemented yet");
}

Expected<std::string> ChatTemplate::render(const std::vector<ChatMessage>&, bool, const ChatContext&) const {
  return unimplemented("chat templates are not implemented yet");
}
Expected<std::string> ChatTemplate::render_json(const OrderedJson&, bool, const ChatContext&) const {
  return unimplemented("chat templates are not implemented yet");
}
const std::string& ChatTemplate::name() const { return impl_->name; }
const std::string& ChatTemplate::source() const { return impl_->source; }

}  // namespace tessera
