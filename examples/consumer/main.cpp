// classify_top1 MODEL IMAGE: the smallest program built against an installed qengine.
#include <iostream>

#include <qengine/qengine.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: classify_top1 MODEL IMAGE\n";
    return 2;
  }
  try {
    const qengine::Model model = qengine::Model::load(argv[1]);
    qengine::Session session(model, qengine::SessionOptions{});
    const auto top = session.classify(argv[2], 1);
    std::cout << top.at(0).class_index << " " << top.at(0).label << "\n";
  } catch (const qengine::Error& e) {
    std::cerr << "classify_top1: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
