// Runs a fuzz target's LLVMFuzzerTestOneInput over files and folders of inputs (its seed corpus and the
// inputs that once crashed it), so every build checks them without libFuzzer. A crash or a failed property
// aborts; a run that found no input at all fails too (a folder was moved or emptied).
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::cerr << "replay " << path.string() << " (" << bytes.size() << " bytes)\n";
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    if (std::filesystem::is_directory(arg)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(arg)) {
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) inputs += RunFile(f);
    } else if (std::filesystem::is_regular_file(arg)) {
      inputs += RunFile(arg);
    }
  }
  if (inputs == 0) {
    std::cerr << "no inputs found in the arguments\n";
    return 1;
  }
  std::cout << inputs << " inputs replayed without a failure\n";
  return 0;
}
